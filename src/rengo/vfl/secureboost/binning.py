"""Quantile bins of one party's columns: each party bins its own columns and keeps the edges.

Every column is cut at (up to) ``max_bin - 1`` thresholds, the midpoints between
neighbouring quantiles of its non-missing training values, as scikit-learn's
``HistGradientBoosting`` bins them; a column with fewer distinct values than ``max_bin``
is cut between every pair of distinct values, so no information is lost. Bin ``b`` holds
the values in ``(edge[b-1], edge[b]]``, so ``value <= edge[b]`` is the same test as
``bin <= b``: a split at bin ``b`` predicts new rows by comparing with ``edge[b]``. Missing
values (NaN) get their own bin after the last one, and a split learns where they go.

The quantiles are exact (each party holds its whole column in memory), so no sketch error
enters: a streaming sketch such as Greenwald-Khanna only approximates these cut points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rengo.core.errors import DataError


@dataclass(frozen=True)
class FeatureBins:
    """Each column's cut points (``edges[j]``, ascending); bin ``len(edges[j])`` of column
    ``j`` is its last value bin and ``len(edges[j]) + 1`` its missing-value bin."""

    edges: tuple[np.ndarray, ...]

    @property
    def n_features(self) -> int:
        """Columns binned."""
        return len(self.edges)

    def value_bins(self, feature: int) -> int:
        """Non-missing bins of column ``feature``."""
        return len(self.edges[feature]) + 1

    def missing_bin(self, feature: int) -> int:
        """The bin index of missing values of column ``feature``."""
        return len(self.edges[feature]) + 1

    def threshold(self, feature: int, bin_index: int) -> float:
        """The value a split after ``bin_index`` compares with (``x <= threshold``: left);
        ``inf`` after the last value bin (every present value goes left)."""
        edges = self.edges[feature]
        return float(edges[bin_index]) if bin_index < len(edges) else float("inf")

    def goes_left(
        self, binned: np.ndarray, feature: int, bin_index: int, missing_left: bool
    ) -> np.ndarray:
        """Which rows (binned, rows x columns) a split of ``feature`` after ``bin_index``
        sends left; missing values go left when ``missing_left``."""
        column = binned[:, feature]
        missing = column == self.missing_bin(feature)
        return np.asarray(np.where(missing, missing_left, column <= bin_index))

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Bin indices (int32, rows x columns) of ``features``; NaN goes to the missing bin."""
        x = np.asarray(features, dtype=np.float64)
        out = np.empty(x.shape, dtype=np.int32)
        for j, edges in enumerate(self.edges):
            column = x[:, j]
            binned = np.searchsorted(edges, column, side="left").astype(np.int32)
            binned[np.isnan(column)] = len(edges) + 1
            out[:, j] = binned
        return out


def column_name(names: Sequence[str] | None, j: int) -> str:
    """How an error message names column ``j``."""
    return repr(names[j]) if names is not None and j < len(names) else f"{j}"


def fit_bins(
    features: np.ndarray,
    max_bin: int,
    *,
    party: str,
    names: Sequence[str] | None = None,
) -> FeatureBins:
    """Cut points of each column of ``features`` (rows x columns, NaN = missing).

    Parameters
    ----------
    features
        The party's training rows.
    max_bin
        Most value bins per column.
    party
        Who holds the columns (for error messages).
    names
        Column names (for error messages).

    Returns
    -------
    FeatureBins
        The cut points; they never leave the party.

    Raises
    ------
    DataError
        If a column is entirely empty (naming the party, the column and the fix), or
        holds infinities.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{party}: features must be a 2-D table, got shape {x.shape}")
    if np.isinf(x).any():
        j = int(np.flatnonzero(np.isinf(x).any(axis=0))[0])
        raise DataError(
            f"{party}: column {column_name(names, j)} holds infinite values; replace them "
            "with finite values or leave the cells empty (missing)"
        )
    edges = []
    for j in range(x.shape[1]):
        column = x[:, j]
        present = column[~np.isnan(column)]
        if not present.size and len(column):
            raise DataError(
                f"{party}: column {column_name(names, j)} is entirely empty; drop the "
                "column from the party's table (or fill it) before training"
            )
        edges.append(_cut_points(present, max_bin))
    return FeatureBins(tuple(edges))


def _cut_points(values: np.ndarray, max_bin: int) -> np.ndarray:
    """Midpoints between distinct values (few of them) or between quantiles (many)."""
    distinct = np.unique(values)
    if len(distinct) <= max_bin:
        return np.asarray((distinct[:-1] + distinct[1:]) / 2.0)
    percentiles = np.linspace(0, 100, max_bin + 1)[1:-1]
    quantiles = np.percentile(values, percentiles, method="midpoint")
    return np.unique(quantiles)
