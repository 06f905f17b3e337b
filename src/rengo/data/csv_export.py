"""Write a table as CSV for a script or a spreadsheet: the one writer behind rengo's CSV
exports (``rengo rewards export``, ``rengo runs metrics``, a tournament's round files, a
vertical party's scores, :func:`~rengo.data.save_csv`).

By default a file is UTF-8 without a byte-order mark, ``,`` between fields and ``.`` in
numbers: what scripts read (Python's ``csv`` module opened as ``utf-8`` keeps a mark as part
of the first column's name). Excel on Windows reads a file without the mark in the
computer's code page (``Jürgen`` shows as ``JÃ¼rgen``) and splits fields at the
computer's list separator (``;`` where numbers are written ``0,5``), so an export for Excel
asks for ``bom=True`` and, in such a locale, ``delimiter=";"`` and ``decimal=","``. rengo's
own readers skip the mark.
"""

from __future__ import annotations

import codecs
import csv
import numbers
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rengo.core.errors import ConfigError


def write_csv(
    path: str | Path,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    delimiter: str = ",",
    decimal: str = ".",
    bom: bool = False,
    encoding: str = "utf-8",
) -> int:
    """Write ``header`` and ``rows`` to ``path`` as CSV, UTF-8 unless ``encoding`` says
    otherwise (its folder made if missing; a file there is replaced).

    Parameters
    ----------
    path:
        The CSV file.
    header:
        The column names.
    rows:
        One sequence of cells per row; ``None`` is an empty cell, a string is written as
        it is, a non-integer number (``float``, numpy's floats, ``Decimal``) with
        ``decimal`` as its decimal separator.
    delimiter:
        The field separator (one character; ``"tab"`` or a backslash and ``t`` for a tab).
    decimal:
        ``"."`` or ``","``: the decimal separator of the numbers written.
    bom:
        Start the file with a UTF-8 byte-order mark, which Excel needs to read it as UTF-8.
    encoding:
        The text encoding (any codec Python knows; ``"cp1252"`` writes a file as an input
        read in the Windows code page was written).

    Returns
    -------
    int
        The number of rows written (the header not counted).

    Raises
    ------
    ConfigError
        For a ``delimiter`` that is not one character, a ``decimal`` other than ``"."`` or
        ``","``, the two equal, an unknown ``encoding``, or ``bom`` with an encoding other
        than UTF-8 (checked before the file is opened).
    """
    from rengo.data.csv_table import CsvFormat

    form = CsvFormat.checked(delimiter, encoding, decimal)
    utf8 = codecs.lookup(form.encoding).name == "utf-8"
    if bom and not utf8:
        raise ConfigError(f"a byte-order mark is written only in UTF-8, not {encoding!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with target.open("w", newline="", encoding="utf-8-sig" if bom else form.encoding) as handle:
        writer = csv.writer(handle, delimiter=form.delimiter)
        writer.writerow(header)
        for row in rows:
            if form.decimal != ".":
                row = [_with_decimal(cell, form.decimal) for cell in row]
            writer.writerow(row)
            count += 1
    return count


def _with_decimal(cell: Any, decimal: str) -> Any:
    """``cell`` as text with ``decimal`` for its decimal point if it is a non-integer
    number; any other cell as it is."""
    number = isinstance(cell, Decimal) or (
        isinstance(cell, numbers.Real) and not isinstance(cell, numbers.Integral)
    )
    return str(cell).replace(".", decimal) if number else cell
