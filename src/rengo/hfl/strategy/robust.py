"""Byzantine-robust aggregation: FedMedian, FedTrimmedAvg, Krum / Multi-Krum.

These rules need every client's update at once (a median is not a running sum), so their
memory is O(clients x model), unlike FedAvg's streaming fold: the round's updates are held in
their own dtype (100 clients of a 25M-parameter float32 model: 10 GB), every rule reads them
a few columns at a time, and an update that no longer fits raises a
``MemoryError`` that says so. Sample clients accordingly (``fraction_fit``).

* FedMedian, FedTrimmedAvg: Yin et al. 2018, "Byzantine-Robust Distributed Learning:
  Towards Optimal Statistical Rates" - coordinate-wise median / beta-trimmed mean.
* Krum, Multi-Krum: Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine
  Tolerant Gradient Descent" - score each update by the summed squared distances to its
  n - f - 2 nearest neighbours; keep the m best-scored and average them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rengo.core.errors import DataError
from rengo.core.messages import FitResult, Metrics
from rengo.core.parameters import BLOCK_VALUES, Parameters, flatten, unflatten
from rengo.hfl.strategy.base import Aggregate, Strategy, WeightedSum
from rengo.hfl.strategy.registry import register_strategy


class UpdateStack(WeightedSum):
    """Keeps every update (robust rules need them all) besides the weighted metric means.

    Each update is held as its own arrays, flattened, in their own dtype (a float32 model's
    updates as float32), never as a float64 copy: that and :meth:`matrix`'s float64 stack of
    them held four times the clients' float32 updates at once, so 20 clients of a
    25M-parameter model needed 8 GB before the median's own copy. A coordinate-wise rule
    reads them through :meth:`combine_columns`, a few columns at a time, which is exact
    (each column's rule sees the same float64 values); the rules that compare whole updates
    (Krum, Bulyan, centred clipping) read them through :meth:`squared_distances` and
    :meth:`column_blocks` the same way (before, they stacked a float64 matrix of them all,
    and centred clipping its deltas besides: 6-8x the float32 updates beyond them).
    :meth:`matrix` builds the whole float64 matrix for a caller that wants it.
    """

    def __init__(self, reference: Sequence[np.ndarray]) -> None:
        super().__init__([])
        self.weights: list[float] = []
        self._held: list[list[np.ndarray]] = []

    @property
    def updates(self) -> list[np.ndarray]:
        """Each update as one float64 vector (:func:`~rengo.core.parameters.flatten`),
        built on each access."""
        return [flatten(arrays) for arrays in self._held]

    def add(self, parameters: Sequence[np.ndarray], weight: float, metrics: Metrics) -> None:
        """Keep a copy of the update's arrays and fold its metrics.

        Raises
        ------
        DataError
            If its arrays do not have the count and shapes of the updates kept before it.
        MemoryError
            When this update does not fit in memory beside those kept, saying how many
            are held and what to change.
        """
        if self._held:
            first = self._held[0]
            if len(parameters) != len(first) or any(
                np.size(p) != f.size for p, f in zip(parameters, first, strict=False)
            ):
                raise DataError("an update's arrays differ in count or size from the first's")
        try:
            arrays = [np.array(p).reshape(-1) for p in parameters]  # a copy, in its dtype
        except MemoryError:
            size = sum(np.asarray(p).nbytes for p in parameters)
            held = sum(a.nbytes for arrays in self._held for a in arrays)
            raise MemoryError(
                f"a robust rule holds every client's update until the round's last one: "
                f"{len(self._held)} of {size / 2**20:.0f} MiB each are held "
                f"({held / 2**30:.2f} GiB) and the next does not fit in memory; sample "
                "fewer clients per round (fraction_fit) or aggregate with a streaming rule "
                "(FedAvg, NormBounding)"
            ) from None
        super().add([], weight, metrics)  # counted once it is held
        self._held.append(arrays)
        self.weights.append(float(weight))

    def add_sum(self, sums: Sequence[np.ndarray], total_weight: float, count: int) -> None:
        """Refused: a robust rule needs every update, not their sum."""
        raise ValueError(
            "robust aggregation needs each client's update; it cannot fold a summed block "
            "(for example under secure aggregation)"
        )

    def matrix(self) -> np.ndarray:
        """Updates as rows of a (clients, parameters) float64 matrix."""
        if not self._held:
            raise ValueError("no updates accumulated")
        return np.stack(self.updates)

    def column_blocks(
        self, rows: Sequence[int] | None = None
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        """The updates' matrix (or its ``rows``) a few columns at a time, as float64.

        Yields ``(start, stop, block)``: ``block`` is the ``(m, stop - start)`` float64 slice
        ``matrix()[rows, start:stop]``, one buffer of about 2 MiB reused for every block
        (read it before asking for the next), so a rule that compares whole updates holds
        one block beside the updates instead of a float64 copy of them all.

        Parameters
        ----------
        rows
            The updates to read, in this order (default: all, in the order kept).

        Raises
        ------
        ValueError
            If no update was kept.
        """
        if not self._held:
            raise ValueError("no updates accumulated")
        held = self._held if rows is None else [self._held[i] for i in rows]
        width = max(256, 4 * BLOCK_VALUES // len(held))  # (m, width) float64: about 2 MiB
        block = np.empty((len(held), width), dtype=np.float64)
        offset = 0
        for k, first in enumerate(held[0]):
            for start in range(0, first.size, width):
                stop = min(start + width, first.size)
                view = block[:, : stop - start]
                for i, arrays in enumerate(held):
                    view[i] = arrays[k][start:stop]
                yield offset + start, offset + stop, view
            offset += first.size

    def combine_columns(
        self, rule: Callable[[np.ndarray], np.ndarray], rows: Sequence[int] | None = None
    ) -> np.ndarray:
        """``rule`` applied to the updates' matrix a few columns at a time: the float64
        vector ``rule(matrix()[rows])`` would give for a coordinate-wise ``rule`` (one that
        maps an ``(m, c)`` float64 block to its ``c`` column results, each column's from
        that column alone), holding one block of the matrix instead of all of it.

        Parameters
        ----------
        rule
            ``(m, c)`` float64 rows -> ``c`` values.
        rows
            The updates the rule reads, in this order (default: all).

        Returns
        -------
        numpy.ndarray
            One float64 value per parameter.

        Raises
        ------
        ValueError
            If no update was kept.
        """
        if not self._held:
            raise ValueError("no updates accumulated")
        out = np.empty(sum(a.size for a in self._held[0]), dtype=np.float64)
        for start, stop, block in self.column_blocks(rows):
            # a one-column block is the column twice: numpy reduces an (m, 1) block in
            # another order (pairwise) than the rows of a wider one, so a trimmed mean of a
            # 1-value array (or of the last value of a block) changed in its last bits; two
            # equal columns reduce as every wider block does
            if stop - start == 1:
                out[start] = rule(np.repeat(block, 2, axis=1))[0]
            else:
                out[start:stop] = rule(block)
        return out

    def squared_distances(self) -> np.ndarray:
        """The ``(n, n)`` matrix of squared Euclidean distances between the updates, read a
        few columns at a time (the whole-update rules' one comparison: Krum, Bulyan).

        Each block is centred on its columns' mean before its Gram form
        ``|a|^2 + |b|^2 - 2 a.b`` is added up (distances do not move with the origin, and
        squares of ~10-sized weights would lose updates of ~1e-7 to rounding); the same
        numbers as :func:`pairwise_squared_distances` of :meth:`matrix` up to the order of
        the sums.

        Raises
        ------
        ValueError
            If no update was kept.
        """
        n = len(self._held)
        sq = np.zeros(n)
        gram = np.zeros((n, n))
        for _, _, block in self.column_blocks():
            centred = block - block.mean(axis=0)
            sq += np.sum(centred**2, axis=1)
            gram += centred @ centred.T
        return distances_from_gram(sq, gram)


def distances_from_gram(sq: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """Squared distances ``|a|^2 + |b|^2 - 2 a.b`` from the rows' squared norms and Gram
    matrix (of rows centred on their mean), clipped at 0 where rounding went below it."""
    return np.asarray(np.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0))


def pairwise_squared_distances(updates: np.ndarray) -> np.ndarray:
    """The ``(n, n)`` squared Euclidean distances between the rows of ``updates``
    (centred on their mean first: see :meth:`UpdateStack.squared_distances`)."""
    centred = updates - updates.mean(axis=0)
    return distances_from_gram(np.sum(centred**2, axis=1), centred @ centred.T)


@dataclass
class _RobustStrategy(Strategy):
    coordinatewise: ClassVar[bool] = False
    """Whether :meth:`combine` is a coordinate-wise rule (then fed a few columns at a time,
    :meth:`UpdateStack.combine_columns`)."""

    def accumulator(self, server_round: int, parameters: Parameters) -> UpdateStack:
        """Keeps every update: a robust rule needs them all."""
        return UpdateStack(parameters)

    def add_result(self, acc: WeightedSum, client_id: str, result: FitResult) -> None:
        acc.add(result.parameters, float(result.num_examples), result.metrics)

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        assert isinstance(acc, UpdateStack)
        return [np.asarray(a) for a in unflatten(self.combine_stack(acc), parameters)]

    def combine(self, updates: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def combine_stack(self, acc: UpdateStack) -> np.ndarray:
        """The rule on the round's kept updates, as one float64 vector: a coordinate-wise
        rule a few columns at a time; the others override it to read the stack as they
        need (never the whole float64 matrix)."""
        if not self.coordinatewise:
            raise NotImplementedError
        return acc.combine_columns(self.combine)


@register_strategy
@dataclass
class FedMedian(_RobustStrategy):
    """Coordinate-wise median of the client models (Yin et al. 2018)."""

    coordinatewise: ClassVar[bool] = True

    def combine(self, updates: np.ndarray) -> np.ndarray:
        """Coordinate-wise median of the rows."""
        return np.asarray(np.median(updates, axis=0))


@register_strategy
@dataclass
class FedTrimmedAvg(_RobustStrategy):
    """Coordinate-wise mean after dropping the ``beta`` fraction of largest and smallest
    values in each coordinate (Yin et al. 2018).

    Parameters
    ----------
    beta
        The fraction cut from each end of every coordinate, in [0, 0.5); the other
        parameters are :class:`~rengo.hfl.Strategy`'s.

    Raises
    ------
    ValueError
        If ``beta`` is outside [0, 0.5), or (as :class:`~rengo.hfl.Strategy`) a fraction or
        minimum is out of range.
    """

    beta: float = 0.1
    coordinatewise: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.beta < 0.5:
            raise ValueError(f"beta must be in [0, 0.5), got {self.beta}")

    def combine(self, updates: np.ndarray) -> np.ndarray:
        """Coordinate-wise beta-trimmed mean of the rows."""
        return trimmed_mean(updates, self.beta)


@register_strategy
@dataclass
class Krum(_RobustStrategy):
    """Krum (``num_selected=1``) or Multi-Krum: average the ``num_selected`` updates with the
    lowest Krum scores, tolerating ``num_byzantine`` attackers (Blanchard et al. 2017).
    Krum's guarantee needs ``n > 2 f + 2`` updates, so ``min_fit_clients`` and
    ``min_available_clients`` are raised to ``2 f + 3`` at least (a round with fewer is
    refused before anyone trains, and one left with fewer fails: with ``f`` colluding
    attackers among fewer, Krum picks theirs), and Multi-Krum keeps at most ``n - f``.

    Parameters
    ----------
    num_byzantine
        ``f``: how many attacking clients to tolerate (>= 0).
    num_selected
        How many lowest-scoring updates to average (>= 1; 1 is Krum); the other parameters
        are :class:`~rengo.hfl.Strategy`'s.

    Raises
    ------
    ValueError
        If ``num_byzantine < 0`` or ``num_selected < 1``, or (as
        :class:`~rengo.hfl.Strategy`) a fraction or minimum is out of range.
    """

    num_byzantine: int = 1
    num_selected: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_byzantine < 0 or self.num_selected < 1:
            raise ValueError("num_byzantine must be >= 0 and num_selected >= 1")
        needed = 2 * self.num_byzantine + 3
        self.min_fit_clients = max(self.min_fit_clients, needed)
        self.min_available_clients = max(self.min_available_clients, needed)

    def combine(self, updates: np.ndarray) -> np.ndarray:
        """Mean of the ``num_selected`` rows with the lowest Krum scores.

        Raises
        ------
        ValueError
            As :meth:`select`.
        """
        chosen = self.select(pairwise_squared_distances(updates))
        return np.asarray(updates[chosen].mean(axis=0))

    def combine_stack(self, acc: UpdateStack) -> np.ndarray:
        """:meth:`combine` on the kept updates, read a few columns at a time: their squared
        distances first, then the chosen updates' mean."""
        chosen = self.select(acc.squared_distances())
        return acc.combine_columns(lambda rows: rows.mean(axis=0), rows=chosen)

    def select(self, distances: np.ndarray) -> list[int]:
        """The ``num_selected`` updates with the lowest Krum scores, from the updates'
        ``(n, n)`` squared distances.

        Raises
        ------
        ValueError
            With ``n <= 2 f + 2`` updates (outside Krum's guarantee) or more to keep than
            ``n - f`` (some would be the attackers').
        """
        n, f = distances.shape[0], self.num_byzantine
        if n <= 2 * f + 2:
            raise ValueError(
                f"Krum tolerates {f} Byzantine clients only among more than {2 * f + 2} "
                f"updates (Blanchard et al. 2017), got {n}"
            )
        if self.num_selected > n - f:
            raise ValueError(
                f"Multi-Krum keeps at most n - f = {n - f} of {n} updates (more would keep "
                f"attackers'), got num_selected={self.num_selected}"
            )
        scores = krum_scores_from_distances(distances, f)
        return [int(i) for i in np.argsort(scores, kind="stable")[: self.num_selected]]


def trimmed_mean(updates: np.ndarray, beta: float) -> np.ndarray:
    """Per-coordinate mean of ``updates`` rows without the ``floor(beta * n)`` extremes on
    each side."""
    n = updates.shape[0]
    k = int(np.floor(beta * n))
    if n - 2 * k <= 0:
        raise ValueError(f"trimming {k} of {n} updates from each side leaves none")
    ordered = np.sort(updates, axis=0)
    return np.asarray(ordered[k : n - k].mean(axis=0))


def krum_scores(updates: np.ndarray, num_byzantine: int) -> np.ndarray:
    """Krum score of each row: the sum of squared distances to its ``n - f - 2`` nearest
    other rows. A score needs ``n >= f + 3`` rows; Krum's guarantee needs ``n > 2 f + 2``
    (Blanchard et al. 2017, Proposition 1), which :class:`Krum` requires (Bulyan scores
    shrinking sets, its guarantee resting on ``n >= 4 f + 3`` at the start)."""
    return krum_scores_from_distances(pairwise_squared_distances(updates), num_byzantine)


def krum_scores_from_distances(distances: np.ndarray, num_byzantine: int) -> np.ndarray:
    """Krum score of each of ``n`` updates from their ``(n, n)`` squared distances (see
    :func:`krum_scores`); a sub-matrix scores a subset, as Bulyan's selection does."""
    n = distances.shape[0]
    neighbours = n - num_byzantine - 2
    if neighbours < 1:
        raise ValueError(
            f"a Krum score with {num_byzantine} Byzantine clients needs at least "
            f"{num_byzantine + 3} updates, got {n}"
        )
    dist = np.array(distances, dtype=np.float64)
    np.fill_diagonal(dist, np.inf)
    return np.asarray(np.sort(dist, axis=1)[:, :neighbours].sum(axis=1))
