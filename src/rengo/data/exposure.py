"""Exposure: how long each row was observed (years insured, say), the known factor of a
count model's mean ``E[y] = exposure * exp(x w + b)`` (a Poisson GLM's offset
``log(exposure)``). One check for every place an exposure comes in: a horizontal client's
table (``[data] exposure``), a vertical label party's (``[vfl] exposure``), an API call
(a CSV file's column is read by :mod:`rengo.data.exposure_column`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError

FLOOR_RATIO = 1e-9
"""The smallest exposure taken, as a share of the mean exposure. A vertical label party's
offset ``log(exposure)`` is part of its partial linear predictor, which the encrypted chain
keeps within +-40 (:data:`rengo.vfl.hetero_poisson.roles.MAX_PARTIAL`) and whose intercept
starts at ``log(sum y / sum e)``: an exposure 1e-9 of the mean puts ``log(e / mean e)`` at
-20.7, leaving the rest for the rate and the features; one of 1e-300 (a unit error, a
missing value written as a tiny number) put the row at -690 and stopped training with an
error about the features. The ratio has no unit, so years, days or seconds all work."""


def check_exposure(
    exposure: Any,
    rows: int,
    who: str,
    column: str = "exposure",
    where: Callable[[int], str] | None = None,
) -> np.ndarray:
    """The exposure as float64, one positive finite value per row.

    Parameters
    ----------
    exposure
        One value per row of the table.
    rows
        How many rows the table has.
    who
        The party or table holding it (named in errors).
    column
        What the exposure is called where it came from (a job file's column), for errors.
    where
        Row ``i``'s ``file:line`` where it came from a file, for errors.

    Returns
    -------
    numpy.ndarray
        The exposure, float64, shape ``(rows,)``.

    Raises
    ------
    DataError
        If it is not numeric, has another length, or a value is NaN, infinite, not
        positive or under :data:`FLOOR_RATIO` of the mean exposure (naming the party, the
        column and the first such row).
    """
    try:
        values = np.asarray(exposure, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{who}: exposure {column!r} must be numeric") from None
    if values.ndim != 1 or len(values) != rows:
        raise DataError(
            f"{who}: exposure {column!r} needs one value per row ({rows}), got shape {values.shape}"
        )

    def row(i: int) -> str:
        return f"row {i} (counting from 0{'' if where is None else f'; {where(i)}'})"

    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if len(bad):
        first = int(bad[0])
        raise DataError(
            f"{who}: exposure {column!r} must be a positive finite number (the time each row "
            f"was observed), but {row(first)} is {float(values[first])!r} ({len(bad)} such "
            "rows)"
        )
    floor = FLOOR_RATIO * float(np.mean(values)) if rows else 0.0
    tiny = np.flatnonzero(values < floor)
    if len(tiny):
        first = int(tiny[0])
        raise DataError(
            f"{who}: exposure {column!r} {row(first)} is {float(values[first])!r}, under "
            f"{FLOOR_RATIO:g} of the mean exposure ({float(np.mean(values)):.6g}; "
            f"{len(tiny)} such rows): no row is observed for a billionth of the others' "
            "time; check the column's values and unit"
        )
    return values


def check_exposure_column(
    exposure: str, label: str | None, id_column: str | None, named: str
) -> None:
    """Refuse an exposure column that is also the label or ID column: the one check a job's
    ``[data] exposure`` and ``[vfl] exposure``, ``rengo vfl party --exposure`` and
    :func:`~rengo.data.load_csv` make before reading a cell.

    Parameters
    ----------
    exposure
        The exposure column's name.
    label, id_column
        The table's label and ID columns (None: it has none).
    named
        How the exposure was given, the start of the message (``"job.toml: data.exposure
        ="``, ``"--exposure"``).

    Raises
    ------
    ConfigError
        Naming ``named``, the column and which column it also is.
    """
    role = "label" if exposure == label else "ID" if exposure == id_column else None
    if role is not None:
        raise ConfigError(
            f"{named} {exposure!r} is also the {role} column: name the column of each "
            "row's exposure (years insured)"
        )


__all__ = ["FLOOR_RATIO", "check_exposure", "check_exposure_column"]
