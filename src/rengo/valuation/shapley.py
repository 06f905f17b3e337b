"""Shapley values over a generic cooperative game: exact, truncated Monte Carlo, leave-one-out.

A game is a ``value(coalition: frozenset[int]) -> float`` over players ``0..n-1``. Every
estimator wraps it in :class:`CountingValue`, so each coalition is evaluated once and the
number of (expensive) evaluations is reported beside the values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from math import factorial

import numpy as np

from rengo.core.errors import ConfigError

ValueFunction = Callable[[frozenset[int]], float]
"""The value of a coalition of players (e.g. the validation score of the model it builds)."""

MAX_EXACT_PLAYERS = 16
"""Exact Shapley evaluates all 2^n coalitions: beyond 16 players use a sampling estimator."""


@dataclass(frozen=True)
class ShapleyResult:
    """Contribution of each player, with the cost of computing it.

    ``values[i]`` belongs to ``players[i]`` (player names where known, else indices);
    ``evaluations`` counts distinct coalitions evaluated; ``permutations`` counts sampled
    permutations (0 for exact methods).
    """

    values: np.ndarray
    evaluations: int
    players: tuple[str, ...] = ()
    permutations: int = 0
    method: str = "exact"
    per_round: np.ndarray | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain types only, for the run store and JSON reports."""
        names = self.players or tuple(str(i) for i in range(len(self.values)))
        out: dict[str, object] = {
            "method": self.method,
            "values": {p: float(v) for p, v in zip(names, self.values, strict=True)},
            "evaluations": self.evaluations,
            "permutations": self.permutations,
        }
        if self.per_round is not None:
            out["per_round"] = self.per_round.tolist()
        return out


@dataclass
class CountingValue:
    """Memoised wrapper of a value function that counts distinct evaluations."""

    value: ValueFunction
    evaluations: int = 0
    _cache: dict[frozenset[int], float] = field(default_factory=dict, repr=False)

    def __call__(self, coalition: frozenset[int]) -> float:
        cached = self._cache.get(coalition)
        if cached is not None:
            return cached
        result = float(self.value(coalition))
        if not np.isfinite(result):
            raise ValueError(f"value of coalition {sorted(coalition)} is {result}, not finite")
        self._cache[coalition] = result
        self.evaluations += 1
        return result


def _check_players(n_players: int) -> None:
    if n_players < 1:
        raise ConfigError(f"n_players must be at least 1, got {n_players}")


def exact_shapley(value: ValueFunction, n_players: int) -> ShapleyResult:
    """Exact Shapley values by enumerating all 2^n coalitions (Shapley 1953).

    phi_i = sum_{S not containing i} |S|!(n-|S|-1)!/n! (v(S+i) - v(S)). Feasible up to about
    14 players (16384 evaluations); raises :class:`ConfigError` above ``MAX_EXACT_PLAYERS``.
    """
    _check_players(n_players)
    if n_players > MAX_EXACT_PLAYERS:
        raise ConfigError(
            f"exact Shapley over {n_players} players needs 2^{n_players} evaluations; "
            "use gtg_shapley or tmc_shapley"
        )
    counted = CountingValue(value)
    masks = np.arange(1 << n_players)
    table = np.empty(masks.size, dtype=np.float64)
    for mask in range(masks.size):
        table[mask] = counted(frozenset(i for i in range(n_players) if mask >> i & 1))
    sizes = np.zeros(masks.size, dtype=np.int64)
    for i in range(n_players):
        sizes += (masks >> i) & 1
    n_fact = factorial(n_players)
    weight_of_size = np.array(
        [factorial(s) * factorial(n_players - s - 1) / n_fact for s in range(n_players)]
    )
    values = np.empty(n_players)
    for i in range(n_players):
        without = masks[((masks >> i) & 1) == 0]
        gains = table[without | (1 << i)] - table[without]
        values[i] = float(np.sum(weight_of_size[sizes[without]] * gains))
    return ShapleyResult(values, counted.evaluations, method="exact")


def leave_one_out(value: ValueFunction, n_players: int) -> ShapleyResult:
    """Leave-one-out contribution v(N) - v(N minus i): n + 1 evaluations, ignores redundancy."""
    _check_players(n_players)
    counted = CountingValue(value)
    everyone = frozenset(range(n_players))
    total = counted(everyone)
    values = np.array([total - counted(everyone - {i}) for i in range(n_players)])
    return ShapleyResult(values, counted.evaluations, method="leave_one_out")


@dataclass(frozen=True)
class ConvergenceRule:
    """When a permutation sampler stops.

    Stop after ``max_permutations``, or once at least ``min_permutations`` were drawn and the
    relative change of the running mean, sum|phi_k - phi_{k-1}| / sum|phi_k|, stayed below
    ``tolerance`` for each of the last ``window`` permutations.
    """

    tolerance: float = 0.02
    window: int = 5
    min_permutations: int = 0
    max_permutations: int = 500

    def __post_init__(self) -> None:
        if self.tolerance <= 0 or self.window < 1 or self.max_permutations < 1:
            raise ConfigError("ConvergenceRule needs tolerance > 0, window >= 1, max >= 1")


class RunningMarginalMean:
    """Running mean of marginal-contribution vectors, tracking its recent relative changes."""

    def __init__(self, n_players: int, rule: ConvergenceRule) -> None:
        self.mean = np.zeros(n_players)
        self.count = 0
        self.rule = rule
        self._changes: list[float] = []

    def add(self, marginals: np.ndarray) -> None:
        previous = self.mean.copy()
        self.count += 1
        self.mean += (marginals - self.mean) / self.count
        scale = float(np.sum(np.abs(self.mean)))
        change = float(np.sum(np.abs(self.mean - previous))) / scale if scale > 0 else 0.0
        self._changes.append(change)

    def done(self, min_permutations: int) -> bool:
        """Whether the cap is reached or the running mean has settled."""
        rule = self.rule
        if self.count >= rule.max_permutations:
            return True
        if self.count < max(min_permutations, rule.min_permutations, rule.window + 1):
            return False
        return max(self._changes[-rule.window :]) < rule.tolerance


def sample_permutations(
    n_players: int, rng: np.random.Generator, *, guided: bool, stratified: bool
) -> Iterator[np.ndarray]:
    """An endless stream of permutations of ``range(n_players)``.

    ``stratified``: blocks of n cyclic shifts of one random base permutation, so within each
    block every player takes every position once, i.e. one marginal per coalition size
    (Latin-square stratification, cf. Mitchell et al. 2022, "Sampling permutations for
    Shapley value estimation"); each player is also first once per block. ``guided`` alone:
    permutation k puts player k mod n first and shuffles the rest (Liu et al. 2022).
    """
    k = 0
    while True:
        if stratified:
            base = rng.permutation(n_players)
            for shift in range(n_players):
                yield np.roll(base, -shift)
            continue
        if guided:
            first = k % n_players
            rest = rng.permutation(np.delete(np.arange(n_players), first))
            yield np.concatenate(([first], rest))
        else:
            yield rng.permutation(n_players)
        k += 1


def truncated_monte_carlo(
    counted: CountingValue,
    n_players: int,
    rng: np.random.Generator,
    *,
    tolerance: float,
    rule: ConvergenceRule,
    guided: bool,
    stratified: bool,
) -> tuple[np.ndarray, int]:
    """Average marginal contributions over sampled permutations; a permutation stops being
    scanned once its prefix is within ``tolerance`` (absolute) of v(N). Returns (values,
    permutations). Convergence is checked at block ends when ``stratified``."""
    total = counted(frozenset(range(n_players)))
    empty = counted(frozenset())
    running = RunningMarginalMean(n_players, rule)
    block = n_players if (stratified or guided) else 1
    stream = sample_permutations(n_players, rng, guided=guided, stratified=stratified)
    while running.count < rule.max_permutations and not (
        running.count % block == 0 and running.done(min_permutations=block)
    ):
        order = next(stream)
        marginals = np.zeros(n_players)
        prefix: frozenset[int] = frozenset()
        previous = empty
        for player in order:
            if abs(total - previous) < tolerance:
                break  # truncated: the rest of the permutation adds ~nothing
            prefix = prefix | {int(player)}
            current = counted(prefix)
            marginals[player] = current - previous
            previous = current
        running.add(marginals)
    return running.mean.copy(), running.count


def tmc_shapley(
    value: ValueFunction,
    n_players: int,
    rng: np.random.Generator,
    *,
    truncation: float = 0.05,
    rule: ConvergenceRule | None = None,
    stratified: bool = True,
) -> ShapleyResult:
    """Truncated Monte Carlo Shapley (Ghorbani & Zou 2019, "Data Shapley", Algorithm 1).

    Samples permutations and scans each one, adding players to the prefix; once
    |v(N) - v(prefix)| < ``truncation`` * |v(N) - v(empty)| the remaining marginals are
    taken as 0. (Ghorbani & Zou scale the tolerance by v(N); scaling by the total gain keeps
    it meaningful for scores that are not 0 for the empty coalition, such as log loss.)
    ``stratified`` (default) draws Latin-square blocks of permutations (see
    :func:`sample_permutations`), which cuts the variance for the same number of
    evaluations; ``stratified=False`` is the paper's i.i.d. sampling.
    """
    _check_players(n_players)
    rule = rule or ConvergenceRule()
    counted = CountingValue(value)
    gain = abs(counted(frozenset(range(n_players))) - counted(frozenset()))
    values, permutations = truncated_monte_carlo(
        counted,
        n_players,
        rng,
        tolerance=truncation * gain,
        rule=rule,
        guided=False,
        stratified=stratified,
    )
    return ShapleyResult(values, counted.evaluations, permutations=permutations, method="tmc")


def permutation_shapley(
    value: ValueFunction,
    n_players: int,
    rng: np.random.Generator,
    *,
    rule: ConvergenceRule | None = None,
) -> ShapleyResult:
    """Monte Carlo permutation sampling (Castro et al. 2009) without truncation: unbiased."""
    result = tmc_shapley(value, n_players, rng, truncation=0.0, rule=rule, stratified=False)
    return ShapleyResult(
        result.values, result.evaluations, permutations=result.permutations, method="permutation"
    )
