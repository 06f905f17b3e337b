"""Empty (NaN) cells of a party's own columns in the coordinated linear models.

Linear models need every cell. The ``missing`` option (see
:class:`~rengo.vfl.hetero_lr.config.LinearModelConfig`) says what each party does with its
own empty cells, alone, before training: ``"refuse"`` (default) stops with an error naming
the party, the column, how many cells and the option; ``"zero"`` fills them with 0 (after
the job runner's standardisation, the column's training mean); ``"mean"`` fills them with
the column's mean over the party's own aligned training rows. The fill values stay in the
party's model and fill its scoring rows the same way, so nothing about them leaves it.
"""

from __future__ import annotations

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.common import require_trained_columns

MISSING_FIX = "set missing='mean' or missing='zero' to fill them locally, or impute them first"
"""How an error about empty cells tells the user to proceed."""


def checked_matrix(features: np.ndarray, who: str) -> np.ndarray:
    """``features`` as a 2-D float array without infinite values (empty cells allowed).

    Raises
    ------
    DataError
        Naming the party and the first column with infinite values.
    """
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2:
        raise DataError(f"{who}: features must be a 2-D array, got shape {matrix.shape}")
    infinite = np.isinf(matrix).any(axis=0)
    if infinite.any():
        j = int(np.flatnonzero(infinite)[0])
        raise DataError(f"{who}: column {j} holds infinite values; replace them with numbers")
    return matrix


def refuse_missing(matrix: np.ndarray, who: str) -> None:
    """Raise if ``matrix`` has an empty cell, naming the party, column, count and option.

    Raises
    ------
    DataError
        For the first column with empty cells.
    """
    empty = np.isnan(matrix)
    if empty.any():
        j = int(np.flatnonzero(empty.any(axis=0))[0])
        raise DataError(
            f"{who}: column {j} has {int(empty[:, j].sum())} empty (NaN) cells of "
            f"{len(matrix)} rows; {MISSING_FIX}"
        )


def fill_values(matrix: np.ndarray, policy: str) -> np.ndarray | None:
    """The value each column's empty cells get under ``policy`` (``None`` for ``"refuse"``):
    0, or the mean of the column's present cells (0 for a column with none)."""
    if policy == "refuse":
        return None
    if policy == "zero":
        return np.zeros(matrix.shape[1])
    if policy != "mean":
        raise DataError(f"missing must be 'refuse', 'zero' or 'mean', got {policy!r}")
    present = ~np.isnan(matrix)
    counts = present.sum(axis=0)
    sums = np.where(present, matrix, 0.0).sum(axis=0)
    means: np.ndarray = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return means


def fill_missing(matrix: np.ndarray, fill: np.ndarray | None, who: str) -> np.ndarray:
    """``matrix`` with every empty cell of column j set to ``fill[j]``; without ``fill``,
    empty cells are refused (see :func:`refuse_missing`).

    Raises
    ------
    DataError
        For empty cells without fill values, or fill values of another column count.
    """
    if fill is None:
        refuse_missing(matrix, who)
        return matrix
    if fill.shape != (matrix.shape[1],):
        raise DataError(
            f"{who}: the model fills {fill.shape[0]} columns, the table has {matrix.shape[1]}"
        )
    empty = np.isnan(matrix)
    if not empty.any():
        return matrix
    filled: np.ndarray = np.where(empty, fill[None, :], matrix)
    return filled


def scoring_matrix(
    features: np.ndarray, columns: int, fill: np.ndarray | None, who: str
) -> np.ndarray:
    """A party's rows to score: 2-D, finite where not empty, with training's ``columns``
    (a table with a column more or less would be scored against the wrong coefficients),
    and empty cells filled as in training (refused without ``fill``).

    Raises
    ------
    DataError
        Naming the party: a table that is not 2-D, infinite values, another column count
        than training's, or empty cells the model cannot fill.
    """
    matrix = require_trained_columns(checked_matrix(features, who), columns, who)
    return fill_missing(matrix, fill, who)


def training_matrix(
    features: np.ndarray, policy: str, who: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """A party's training rows with empty cells handled by ``policy``, and the fill values
    its model keeps for scoring.

    Parameters
    ----------
    features
        The party's aligned training rows.
    policy
        ``"refuse"``, ``"zero"`` or ``"mean"``.
    who
        The party, for errors.

    Returns
    -------
    tuple
        The filled matrix and the per-column fill values (``None`` for ``"refuse"``).

    Raises
    ------
    DataError
        For a table that is not 2-D, infinite values, or empty cells under ``"refuse"``.
    """
    matrix = checked_matrix(features, who)
    fill = fill_values(matrix, policy)
    return fill_missing(matrix, fill, who), fill
