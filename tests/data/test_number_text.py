"""A number cell read outside the table loader (a vertical job's exposure column) goes
through the table's decimal-separator checks: ``1.500`` in a table read with ``decimal=","``
was read as 1.5 (1,500 days), and ``0,5`` in one read with ``"."`` lost its hint."""

from __future__ import annotations

import pytest

from rengo.core.errors import DataError
from rengo.data.csv_table import number_text


@pytest.mark.parametrize(
    ("cell", "decimal", "text"),
    [("2,5", ",", "2.5"), ("2", ",", "2"), ("2.5", ".", "2.5"), ("1e3", ".", "1e3")],
)
def test_a_number_is_written_as_python_reads_it(cell: str, decimal: str, text: str) -> None:
    assert number_text(cell, decimal, "t.csv:3", "years") == text


def test_a_point_in_a_decimal_comma_table_is_refused_not_read_as_a_fraction() -> None:
    with pytest.raises(DataError, match=r"t.csv:3: column 'years' is '1.500', which holds a '.'"):
        number_text("1.500", ",", "t.csv:3", "years")


def test_a_decimal_comma_in_a_decimal_point_table_says_how_to_read_it() -> None:
    with pytest.raises(DataError, match=r"t.csv:3: column 'years' is '0,5', .*decimal"):
        number_text("0,5", ".", "t.csv:3", "years")


@pytest.mark.parametrize("decimal", [".", ","])
@pytest.mark.parametrize("cell", ["1_0", "\uff11\uff12", "\u0661\u0662", "2\x00"])
def test_a_cell_that_is_a_number_only_to_python_is_refused_as_feature_cells_are(
    cell: str, decimal: str
) -> None:
    """``float`` reads ``1_0`` as 10, fullwidth and Arabic-Indic digits as 12 and drops a
    NUL: an exposure of 10 years from a damaged cell is refused, as a feature cell is."""
    with pytest.raises(DataError, match=r"t.csv:3: column 'years' is .*not a plain number"):
        number_text(cell, decimal, "t.csv:3", "years")


def test_text_that_float_does_not_read_is_left_to_the_caller_not_called_damaged() -> None:
    """A word or a missing-value marker in another script (``н/д``) is not a number that only
    Python reads: the caller names it as text, not as a damaged file."""
    assert number_text("\u043d/\u0434", ".", "t.csv:3", "years") == "\u043d/\u0434"
