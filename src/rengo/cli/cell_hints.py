"""A feature cell that is not a number, refused with a hint in the command's own terms.

The data layer's reader (:func:`rengo.data.load_csv`) hints how a job file or ``load_csv``'s
arguments read such a cell (``a job's [data] id_column``, ``missing_values=(...)``); a command
that reads a table through its own options (``rengo vfl party --csv``, ``rengo tournament
open --csv``, a tournament's predictions) says instead what its options do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rengo.core.errors import DataError


@contextmanager
def cells_hinted(text: str, missing: str) -> Iterator[None]:
    """While the body reads a table, a :class:`~rengo.data.csv_table.FeatureCellError` is
    raised again as a :class:`DataError` with the same fact and this command's hint: ``text``
    for a cell of text, ``missing`` for an empty cell, a missing-value marker or a NaN or
    infinite number."""
    from rengo.data.csv_table import FeatureCellError

    try:
        yield
    except FeatureCellError as error:
        hint = text if error.problem == "text" else missing
        raise DataError(f"{error.fact} ({hint})") from None
