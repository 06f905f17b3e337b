"""Cell rules shared by every table loader (CSV and Parquet), so that both refuse the same input.

A loader reads its cells its own way, then asks these functions whether the values are
acceptable, and words the error with its own locator (``file:line`` for CSV, ``file row i``
for Parquet).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rengo.core.errors import DataError


def to_feature_dtype(
    values: np.ndarray, dtype: type, allow_nan: bool
) -> tuple[np.ndarray, tuple[int, int, str] | None]:
    """Cast float64 feature ``values`` (rows, columns) to ``dtype`` and find the first bad cell.

    Returns ``(X, bad)`` where ``bad`` is ``None`` or ``(row, column, problem)`` for the first
    refused cell, ``problem`` being ``"not a finite number"`` (NaN unless ``allow_nan``, or
    ±Inf: either poisons every training round later, with a flood of warnings) or
    ``"overflows float32"`` (a finite float64 beyond float32's range).
    """
    refused = ~np.isfinite(values)
    if allow_nan:
        refused &= ~np.isnan(values)
    with np.errstate(over="ignore"):
        X: np.ndarray = values.astype(dtype)
    overflow = np.isinf(X) & np.isfinite(values)
    bad = np.argwhere(refused | overflow)
    if not bad.size:
        return X, None
    i, k = (int(x) for x in bad[0])
    problem = "overflows float32" if overflow[i, k] else "not a finite number"
    return X, (i, k, problem)


def first_unplain_number(cells: Sequence[str]) -> int | None:
    r"""Index of the first cell that is not plain number text, or ``None``.

    Python's ``float`` (and numpy's, which calls it) reads more than a table's numbers:
    ``"1_000"`` as 1000, fullwidth ``"１２"`` and Arabic-Indic ``"١٢"`` as 12, and a control
    character such as ``"2\x00"`` is lost on the way. A table cell that needs any of these
    is more likely a damaged or mis-exported file than a number, so the loaders accept only
    ASCII text without ``_`` or control characters as a number. One pass over all cells
    joined; only a table with such a cell is searched cell by cell.
    """
    joined = "".join(cells)
    if joined.isascii() and joined.isprintable() and "_" not in joined:
        return None
    for i, cell in enumerate(cells):
        if not (cell.isascii() and cell.isprintable()) or "_" in cell:
            return i
    return None


def check_ids(ids: np.ndarray, where: Callable[[int], str], column: str) -> None:
    """Refuse an empty ID or a repeated one, naming the row(s) with ``where(i)``.

    Raises
    ------
    DataError
        For the first empty ID, or the first ID that repeats an earlier row's (both named).
    """
    empty = np.flatnonzero(ids == "")
    if empty.size:
        raise DataError(f"{where(int(empty[0]))}: id column {column!r} is empty")
    order = np.argsort(ids, kind="stable")
    dup = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if dup.size:
        first, second = order[dup[0]], order[dup[0] + 1]
        raise DataError(
            f"{where(int(second))}: id {str(ids[second])!r} in column {column!r} repeats "
            f"{where(int(first))}; ids must be unique"
        )
