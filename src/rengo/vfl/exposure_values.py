"""The label party's exposure: how long each row was observed (years insured, say), the
known factor of a count model's mean ``E[y] = exposure * exp(x w + b)`` (a GLM's offset
``log(exposure)``). Like the labels it never leaves the label party; this module checks it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.core.errors import DataError


def check_exposure(exposure: Any, rows: int, who: str, column: str = "exposure") -> np.ndarray:
    """The exposure as float64, one positive finite value per row.

    Parameters
    ----------
    exposure
        One value per row of the label party's table.
    rows
        How many rows the table has.
    who
        The party holding it (named in errors).
    column
        What the exposure is called where it came from (a job file's column), for errors.

    Returns
    -------
    numpy.ndarray
        The exposure, float64, shape ``(rows,)``.

    Raises
    ------
    DataError
        If it is not numeric, has another length, or a value is NaN, infinite or not
        positive (naming the party, the column and the first such row).
    """
    try:
        values = np.asarray(exposure, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{who}: exposure {column!r} must be numeric") from None
    if values.ndim != 1 or len(values) != rows:
        raise DataError(
            f"{who}: exposure {column!r} needs one value per row ({rows}), got shape {values.shape}"
        )
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if len(bad):
        first = int(bad[0])
        raise DataError(
            f"{who}: exposure {column!r} must be positive and finite (the time each row was "
            f"observed), but row {first} (counting from 0) is {float(values[first])!r} "
            f"({len(bad)} such rows)"
        )
    return values


__all__ = ["check_exposure"]
