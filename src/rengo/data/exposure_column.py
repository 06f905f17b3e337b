"""A CSV file's exposure column, read as text beside the table and checked cell by cell,
so a bad cell is named by its file, line, row and column (see :mod:`rengo.data.exposure`)."""

from __future__ import annotations

import numpy as np

from rengo.core.errors import DataError
from rengo.data.csv_table import TextColumn, number_text
from rengo.data.exposure import check_exposure


def exposure_cells(column: TextColumn, who: str, decimal: str) -> np.ndarray:
    """A CSV file's exposure column (read as text, :class:`~rengo.data.csv_table.TextColumn`)
    as positive finite numbers, checked as :func:`check_exposure` checks them.

    Parameters
    ----------
    column
        The column's cells and where each data row is in its file.
    who
        The party or table holding it (named in errors).
    decimal
        The table's decimal separator (``"."`` or ``","``).

    Returns
    -------
    numpy.ndarray
        One float64 value per data row.

    Raises
    ------
    DataError
        For an empty cell, text, NaN, an infinity or a value that is not positive, or one
        the table's decimal separator cannot have meant (``1.500`` with ``decimal = ","``),
        naming ``who``, the column, the file's line and the row; and as
        :func:`check_exposure`.
    """
    values = np.array(
        [exposure_cell(column, row, who, decimal) for row in range(len(column.cells))],
        dtype=np.float64,
    )
    return check_exposure(values, len(values), who, column.name, column.where)


def exposure_cell(column: TextColumn, row: int, who: str, decimal: str) -> float:
    """Data row ``row`` of an exposure column as a number (its value is checked with the
    others' by :func:`exposure_cells`).

    Parameters
    ----------
    column
        The exposure column, as text.
    row
        The data row (counting from 0).
    who
        The party or table holding it (named in errors).
    decimal
        The table's decimal separator.

    Returns
    -------
    float
        The cell's value.

    Raises
    ------
    DataError
        For an empty cell or text, or a number the table's decimal separator cannot have
        meant, naming ``who``, the column, the file's line and the row.
    """
    cell = str(column.cells[row]).strip()
    where = f"{who}: exposure row {row} (counting from 0; {column.where(row)})"
    text = number_text(cell, decimal, where, column.name)  # a separator it cannot mean
    try:
        return float(text)
    except ValueError:
        raise DataError(
            f"{who}: exposure {column.name!r} must be a positive finite number (the time "
            f"each row was observed), but row {row} (counting from 0; {column.where(row)}) is "
            f"{'empty' if not cell else repr(cell)}"
        ) from None


__all__ = ["exposure_cell", "exposure_cells"]
