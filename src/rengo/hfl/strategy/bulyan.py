"""Bulyan: El Mhamdi, Guerraoui, Rouault 2018, "The Hidden Vulnerability of Distributed
Learning in Byzantium" (ICML), Algorithm 1.

With ``n >= 4 f + 3`` updates of which at most ``f`` are Byzantine:

1. Selection: repeat ``theta = n - 2 f`` times - pick the update Krum scores best among those
   left (Krum's ``n' - f - 2`` nearest neighbours, ``n'`` the updates left), move it to the
   selection set.
2. Aggregation: in every coordinate, average the ``beta = theta - 2 f`` selected values
   closest to their median.

Krum alone can be steered coordinate by coordinate inside its selection; Bulyan's second step
bounds every coordinate by the honest values around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.hfl.strategy.registry import register_strategy
from rengo.hfl.strategy.robust import (
    UpdateStack,
    _RobustStrategy,
    krum_scores_from_distances,
    pairwise_squared_distances,
)


def bulyan(updates: np.ndarray, num_byzantine: int) -> np.ndarray:
    """Bulyan's aggregate of the rows of ``updates`` (El Mhamdi et al. 2018, Algorithm 1).

    Parameters
    ----------
    updates
        One update (or model) per row.
    num_byzantine
        ``f``, the attackers tolerated.

    Returns
    -------
    numpy.ndarray
        The aggregate vector.

    Raises
    ------
    ValueError
        If there are fewer than ``4 f + 3`` rows.
    """
    selected = bulyan_selection(pairwise_squared_distances(updates), num_byzantine)
    return bulyan_trimmed_mean(updates[selected], num_byzantine)


def bulyan_selection(distances: np.ndarray, num_byzantine: int) -> list[int]:
    """Bulyan's step 1 from the updates' ``(n, n)`` squared distances: ``theta = n - 2 f``
    times, the update Krum scores best among those left (scored on the distances' sub-matrix,
    the same distances a Krum of those rows alone would compute).

    Raises
    ------
    ValueError
        If there are fewer than ``4 f + 3`` updates.
    """
    n = distances.shape[0]
    f = num_byzantine
    if n < 4 * f + 3:
        raise ValueError(f"Bulyan with {f} Byzantine clients needs >= {4 * f + 3} updates, got {n}")
    remaining = list(range(n))
    selected: list[int] = []
    for _ in range(n - 2 * f):
        # Krum over those left; once fewer than f + 3 are left, the nearest-neighbour count
        # shrinks to what is there (and a last pair or single is taken as it is).
        left = len(remaining)
        sub = distances[np.ix_(remaining, remaining)]
        best = int(np.argmin(krum_scores_from_distances(sub, min(f, left - 3)))) if left >= 3 else 0
        selected.append(remaining.pop(best))
    return selected


def bulyan_trimmed_mean(chosen: np.ndarray, num_byzantine: int) -> np.ndarray:
    """Bulyan's step 2, coordinate-wise: in each column of the ``theta`` selected rows, the
    mean of the ``theta - 2 f`` values closest to the column's median."""
    beta = chosen.shape[0] - 2 * num_byzantine
    median = np.median(chosen, axis=0)
    closest = np.argsort(np.abs(chosen - median), axis=0, kind="stable")[:beta]
    return np.asarray(np.take_along_axis(chosen, closest, axis=0).mean(axis=0))


@register_strategy
@dataclass
class Bulyan(_RobustStrategy):
    """Krum selection, then a coordinate-wise trimmed mean around the median
    (El Mhamdi et al. 2018); needs ``n >= 4 f + 3`` clients per round, so
    ``min_fit_clients`` and ``min_available_clients`` are raised to ``4 f + 3`` at least (a
    round with fewer is refused before anyone trains).

    Parameters
    ----------
    num_byzantine
        ``f``: how many attacking clients to tolerate (>= 0); the other parameters are
        :class:`~rengo.hfl.Strategy`'s.

    Raises
    ------
    ValueError
        If ``num_byzantine < 0``, or (as :class:`~rengo.hfl.Strategy`) a fraction or
        minimum is out of range.
    """

    num_byzantine: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_byzantine < 0:
            raise ValueError(f"num_byzantine must be >= 0, got {self.num_byzantine}")
        needed = 4 * self.num_byzantine + 3
        self.min_fit_clients = max(self.min_fit_clients, needed)
        self.min_available_clients = max(self.min_available_clients, needed)

    def combine(self, updates: np.ndarray) -> np.ndarray:
        """Bulyan's aggregate of the rows."""
        return bulyan(updates, self.num_byzantine)

    def combine_stack(self, acc: UpdateStack) -> np.ndarray:
        """:meth:`combine` on the kept updates, read a few columns at a time: their squared
        distances for the selection, then the coordinate-wise step on the selected."""
        f = self.num_byzantine
        selected = bulyan_selection(acc.squared_distances(), f)
        return acc.combine_columns(lambda rows: bulyan_trimmed_mean(rows, f), rows=selected)
