"""A regression target's z-score, agreed from each client's moments, never its rows.

A horizontal regression job trains on ``(y - mean) / scale`` so one learning rate (and one
DP clip norm) suits a target in days, kilowatts or dollars alike; predictions are mapped
back with :meth:`TargetScaling.restore` before RMSE and MAE are measured, so they are in the
target's own units. The mean and scale are those of every training client's rows pooled,
and they need only each client's three numbers - its row count, mean and sum of squared
deviations (:class:`TargetMoments`) - combined with Chan, Golub and LeVeque's pairwise
update ("Algorithms for computing the sample variance", 1983), which stays exact where
``sum(y^2) - n mean^2`` would cancel. No held-out row takes part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rengo.core.errors import DataError
from rengo.data.dataset import Dataset


@dataclass(frozen=True)
class TargetMoments:
    """One client's summary of its training targets: what it shares for the scaling.

    Parameters
    ----------
    count
        Its training rows.
    mean
        Their mean target.
    squared_deviations
        ``sum((y - mean)^2)`` over them.
    """

    count: int
    mean: float
    squared_deviations: float

    @classmethod
    def of(cls, targets: np.ndarray) -> TargetMoments:
        """The moments of one client's training targets (float64). Equal targets have no
        spread, whatever the rounding of their mean (as :func:`~rengo.data.dataset.column_scaling`
        treats a constant column): a constant -59.98 gave a spread of 5.7e-15, and a
        held-out -59.97 was scaled to 1.75e12."""
        y = np.asarray(targets, dtype=np.float64)
        if y.size == 0:
            return cls(0, 0.0, 0.0)
        if y.min() == y.max():
            return cls(int(y.size), float(y.flat[0]), 0.0)
        mean = float(y.mean())
        return cls(int(y.size), mean, float(np.sum((y - mean) ** 2)))


def pooled_moments(moments: Sequence[TargetMoments]) -> TargetMoments:
    """The moments of all clients' rows together, from each client's moments alone.

    ``n = n_a + n_b``, ``mean = mean_a + (mean_b - mean_a) n_b / n`` and
    ``M2 = M2_a + M2_b + (mean_b - mean_a)^2 n_a n_b / n`` (Chan et al.), folded left.
    """
    count, mean, squares = 0, 0.0, 0.0
    for part in moments:
        if part.count == 0:
            continue
        total = count + part.count
        delta = part.mean - mean
        squares += part.squared_deviations + delta * delta * count * part.count / total
        mean += delta * part.count / total
        count = total
    return TargetMoments(count, mean, squares)


@dataclass(frozen=True)
class TargetScaling:
    """The z-score of a regression target: ``z = (y - mean) / scale``.

    Parameters
    ----------
    mean, scale
        The training targets' mean and population standard deviation (1 for a constant
        target, which is then only centred).
    """

    mean: float
    scale: float

    @classmethod
    def pooled(cls, moments: Sequence[TargetMoments], name: str = "the target") -> TargetScaling:
        """The scaling of all clients' training targets, from their moments.

        Raises
        ------
        DataError
            For no rows at all, or a mean or spread that is not finite (naming ``name``).
        """
        pooled = pooled_moments(moments)
        if pooled.count == 0:
            raise DataError(f"{name}: cannot scale a target over zero rows")
        spread = float(np.sqrt(pooled.squared_deviations / pooled.count))
        if not (np.isfinite(pooled.mean) and np.isfinite(spread)):
            raise DataError(
                f"{name}: its mean or standard deviation overflows float64; rescale the "
                "target column"
            )
        return cls(pooled.mean, spread if spread > 0 else 1.0)

    def standardize(self, targets: np.ndarray) -> np.ndarray:
        """``(y - mean) / scale`` as float64."""
        return (np.asarray(targets, dtype=np.float64) - self.mean) / self.scale

    def restore(self, scaled: np.ndarray) -> np.ndarray:
        """``z * scale + mean``: scaled predictions back in the target's units."""
        return np.asarray(scaled, dtype=np.float64) * self.scale + self.mean

    def apply(self, dataset: Dataset) -> Dataset:
        """``dataset`` with its target standardised (its features untouched)."""
        return replace(dataset, y=self.standardize(dataset.labels()))


IDENTITY_SCALING = TargetScaling(0.0, 1.0)
"""The scaling of a target trained raw (``data.standardize = false``)."""
