"""Shapley values over a generic cooperative game: exact, sampled (permutation and truncated
Monte Carlo) with standard errors, and leave-one-out.

A game is a ``value(coalition: frozenset[int]) -> float`` over players ``0..n-1``. Every
estimator wraps it in :class:`CountingValue`, so each coalition is evaluated once and the
number of (expensive) evaluations is reported beside the values.

Sampled estimators say how sure they are. They draw independent samples of every player's
marginal contribution (a permutation, or a block of n stratified permutations), so each
value comes with a standard error and a Student-t confidence interval
(:meth:`ShapleyResult.confidence_interval`), and they stop on a rule over those errors
(:mod:`rengo.valuation.stopping`), not on a quiet running mean. Two more guarantees:

* never more evaluations than brute force: once sampling has evaluated
  :data:`EXACT_SWITCH_COVERAGE` of all 2^n coalitions without meeting its rule, the few
  missing ones are evaluated and the exact values returned (standard error 0, and
  ``stopped_by`` says so), unless the rule caps evaluations below 2^n
  (:class:`~rengo.valuation.MaxEvaluations`): sampling then goes on to that budget, which
  the missing coalitions would overrun. Small games are therefore exact by default, and
  once every coalition's value is known the exact values are returned whatever the
  stopping rule says (a rule such as ``MaxSamples(2)`` met on the same sample gets no
  sampled estimate).
* truncation without bias: a permutation whose prefix already scores within the tolerance
  of v(N) is cut (Ghorbani & Zou 2019) - but its tail is still scanned with probability
  ``tail_probability`` and weighted by its inverse (Russian roulette, Kahn 1955), so the
  estimate stays unbiased on any game and the standard error covers truncation too.
  ``tail_probability=0`` is the paper's biased cut.

Efficiency (values adding up to v(N) - v(empty)) holds for every sample of an uncut
permutation, but the unbiased cut trades it for unbiasedness: a cut tail counts 0 or
1 / ``tail_probability`` times its marginals, so with the default truncation the sampled
values add up to v(N) - v(empty) only in expectation, within their standard errors (one
10-client GTG round: 0.7116 against 0.7082). ``tail_probability=0`` keeps every sample
efficient to within the cut tolerance but biases the values; ``truncation=0`` (or exact
values) keeps both, at more evaluations.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from math import factorial

import numpy as np

from rengo.core.errors import ConfigError
from rengo.valuation.stopping import (
    DEFAULT_MIN_SAMPLES,
    ConvergenceRule,
    SamplingProgress,
    StoppingCriterion,
    default_stopping,
    student_quantile,
)

ValueFunction = Callable[[frozenset[int]], float]
"""The value of a coalition of players (e.g. the validation score of the model it builds)."""

MAX_EXACT_PLAYERS = 16
"""Exact Shapley evaluates all 2^n coalitions: beyond 16 players use a sampling estimator."""

EXACT_SWITCH_COVERAGE = 0.75
"""A sampler that has evaluated this fraction of all 2^n coalitions without meeting its
stopping rule evaluates the rest and returns exact values: the remaining quarter costs less
than the sampling still needed (new coalitions get rare as the cache fills)."""

DEFAULT_TAIL_PROBABILITY = 0.2
"""Probability that a truncated permutation's tail is scanned anyway (weighted 1/p)."""

CONFIDENCE = 0.95
"""Level of the confidence intervals reported with estimates."""

PROGRESS_SECONDS = 10.0
"""A sampler running longer logs its progress (INFO on ``rengo.valuation``, ``rengo -v``)
every this many seconds: samples, permutations, evaluations, time, largest standard error."""

log = logging.getLogger("rengo.valuation")

__all__ = [
    "CONFIDENCE",
    "EXACT_SWITCH_COVERAGE",
    "MAX_EXACT_PLAYERS",
    "PROGRESS_SECONDS",
    "ConvergenceRule",
    "CountingValue",
    "ShapleyResult",
    "ValueFunction",
    "check_truncation",
    "coalition_mask",
    "combine_estimates",
    "exact_shapley",
    "leave_one_out",
    "permutation_shapley",
    "sample_permutations",
    "sample_shapley",
    "tmc_shapley",
]


@dataclass(frozen=True)
class ShapleyResult:
    """Contribution of each player, how sure it is, and what computing it cost.

    ``values[i]`` belongs to ``players[i]`` (player names where known, else indices);
    ``stderr[i]`` is its standard error (0 for exact values; inf where unknown: sampling
    stopped before a second sample, or fewer than
    :data:`~rengo.valuation.stopping.DEFAULT_MIN_SAMPLES` samples agreed exactly) and
    ``dof[i]`` the degrees of freedom of that error (inf for exact values); ``evaluations``
    counts distinct coalitions evaluated; ``permutations`` and ``samples`` count what was
    sampled (0 for exact methods); ``stopped_by`` says why sampling stopped.
    """

    values: np.ndarray
    evaluations: int
    players: tuple[str, ...] = ()
    permutations: int = 0
    method: str = "exact"
    per_round: np.ndarray | None = None
    stderr: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dof: np.ndarray = field(default_factory=lambda: np.zeros(0))
    samples: int = 0
    stopped_by: str = ""
    per_round_stderr: np.ndarray | None = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        object.__setattr__(self, "values", values)
        stderr = np.asarray(self.stderr, dtype=np.float64)
        if stderr.size == 0:
            stderr = np.zeros_like(values)
        dof = np.asarray(self.dof, dtype=np.float64)
        if dof.size == 0:
            dof = np.where(stderr > 0, max(self.samples - 1, 1), np.inf)
        if stderr.shape != values.shape or dof.shape != values.shape:
            raise ConfigError("stderr and dof need one entry per value")
        object.__setattr__(self, "stderr", stderr)
        object.__setattr__(self, "dof", dof)

    @property
    def is_exact(self) -> bool:
        """True when every value is exact (no sampling error)."""
        return bool(np.all(self.stderr == 0))

    def confidence_interval(self, level: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """Two-sided Student-t confidence intervals of the values.

        Parameters
        ----------
        level
            Confidence level in (0, 1).

        Returns
        -------
        tuple of numpy.ndarray
            Lower and upper bounds, one per value (equal to the value where exact).
        """
        half = student_quantile(level, self.dof) * self.stderr
        return self.values - half, self.values + half

    def as_dict(self) -> dict[str, object]:
        """Plain types only, for the run store and JSON reports."""
        names = self.players or tuple(str(i) for i in range(len(self.values)))
        low, high = self.confidence_interval()
        out: dict[str, object] = {
            "method": self.method,
            "values": {p: float(v) for p, v in zip(names, self.values, strict=True)},
            "stderr": {p: float(v) for p, v in zip(names, self.stderr, strict=True)},
            "confidence": CONFIDENCE,
            "intervals": {
                p: [float(a), float(b)] for p, a, b in zip(names, low, high, strict=True)
            },
            "evaluations": self.evaluations,
            "permutations": self.permutations,
            "samples": self.samples,
            "stopped_by": self.stopped_by,
        }
        if self.per_round is not None:
            out["per_round"] = self.per_round.tolist()
        return out


class NonFiniteValueError(ValueError):
    """A coalition's value came out NaN or infinite (e.g. the score of a diverged coalition
    model): no Shapley value can be computed from it."""

    def __init__(self, coalition: frozenset[int], value: float) -> None:
        super().__init__(f"value of coalition {sorted(coalition)} is {value}, not finite")
        self.coalition = tuple(sorted(coalition))
        self.value = value


def coalition_mask(coalition: frozenset[int]) -> int:
    """A coalition as the bitmask of its players (bit i set for player i)."""
    return sum(map((1).__lshift__, map(operator.index, coalition)))


@dataclass
class CountingValue:
    """Memoised wrapper of a value function that counts distinct evaluations.

    Coalitions are remembered by their bitmask (:func:`coalition_mask`), a few dozen bytes
    each: remembered as frozensets they took about 4.7 KB each at 200 players, 1.7 GB for
    one default TMC run."""

    value: ValueFunction
    evaluations: int = 0
    _cache: dict[int, float] = field(default_factory=dict, repr=False)

    def __call__(self, coalition: frozenset[int]) -> float:
        """The coalition's value, computed once and then remembered."""
        return self.value_of(coalition, coalition_mask(coalition))

    def value_of(self, coalition: frozenset[int], mask: int) -> float:
        """The value of ``coalition`` whose bitmask ``mask`` the caller already holds (a
        sampler growing a permutation's prefix, exact enumeration), computed once. An error
        the value function raises (or its result not being a number) carries a note naming
        the coalition."""
        cached = self._cache.get(mask)
        if cached is not None:
            return cached
        try:
            result = float(self.value(coalition))
        except Exception as exc:
            exc.add_note(f"while valuing the coalition of players {sorted(coalition)}")
            raise
        if not np.isfinite(result):
            raise NonFiniteValueError(coalition, result)
        self._cache[mask] = result
        self.evaluations += 1
        return result


def _check_players(n_players: int) -> None:
    if n_players < 1:
        raise ConfigError(f"n_players must be at least 1, got {n_players}")


def check_truncation(truncation: float, name: str = "truncation") -> None:
    """Refuse a cut tolerance outside [0, 1): it is a fraction of |v(N) - v(empty)|, and
    from 1 on it cuts every permutation at or before its first player (values all 0 with
    standard error 0 under the biased cut, from the rare scanned tails alone otherwise).

    Raises
    ------
    ConfigError
        Naming ``name`` and the value.
    """
    if not 0 <= truncation < 1:
        raise ConfigError(
            f"{name} must lie in [0, 1), a fraction of |v(N) - v(empty)|, got {truncation}: "
            "from 1 on every permutation is cut at or before its first player"
        )


def exact_shapley(value: ValueFunction, n_players: int) -> ShapleyResult:
    """Exact Shapley values by enumerating all 2^n coalitions (Shapley 1953).

    phi_i = sum_{S not containing i} |S|!(n-|S|-1)!/n! (v(S+i) - v(S)). Feasible up to about
    14 players (16384 evaluations); refused above :data:`MAX_EXACT_PLAYERS` (16). A
    :class:`CountingValue` passed in is reused, so
    coalitions it already evaluated are not evaluated again.

    Parameters
    ----------
    value
        The game.
    n_players
        Players ``0..n_players-1``.

    Returns
    -------
    ShapleyResult
        Exact values (standard error 0).

    Raises
    ------
    ConfigError
        No players, or more than :data:`MAX_EXACT_PLAYERS`.
    """
    _check_players(n_players)
    if n_players > MAX_EXACT_PLAYERS:
        raise ConfigError(
            f"exact Shapley over {n_players} players needs 2^{n_players} evaluations; "
            "use gtg_shapley or tmc_shapley"
        )
    counted = value if isinstance(value, CountingValue) else CountingValue(value)
    masks = np.arange(1 << n_players)
    table = np.empty(masks.size, dtype=np.float64)
    for mask in range(masks.size):
        members = frozenset(i for i in range(n_players) if mask >> i & 1)
        table[mask] = counted.value_of(members, mask)
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
    return ShapleyResult(values, counted.evaluations, method="exact", stopped_by="exact")


def leave_one_out(value: ValueFunction, n_players: int) -> ShapleyResult:
    """Leave-one-out contribution v(N) - v(N minus i): n + 1 evaluations, ignores redundancy.

    Parameters
    ----------
    value
        The game.
    n_players
        Players ``0..n_players-1``.

    Returns
    -------
    ShapleyResult
        Exact leave-one-out values (not Shapley values; standard error 0).
    """
    _check_players(n_players)
    counted = CountingValue(value)
    everyone = frozenset(range(n_players))
    total = counted(everyone)
    values = np.array([total - counted(everyone - {i}) for i in range(n_players)])
    return ShapleyResult(values, counted.evaluations, method="leave_one_out", stopped_by="exact")


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


def _scan(
    counted: CountingValue,
    order: np.ndarray,
    total: float,
    empty: float,
    tolerance: float,
    tail_probability: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One permutation's marginal contributions. Once the prefix is within ``tolerance``
    of v(N), the tail is skipped (marginals 0) or, with ``tail_probability``, scanned with
    weight 1 / tail_probability: unbiased either way (Russian roulette)."""
    marginals = np.zeros(order.size)
    prefix: frozenset[int] = frozenset()
    mask = 0
    previous, weight = empty, 1.0
    for player in order.tolist():
        if weight == 1.0 and tolerance > 0 and abs(total - previous) < tolerance:
            if tail_probability <= 0 or rng.random() >= tail_probability:
                break
            weight = 1.0 / tail_probability
        prefix = prefix | {player}
        mask |= 1 << player
        current = counted.value_of(prefix, mask)
        marginals[player] = weight * (current - previous)
        previous = current
    return marginals


@dataclass
class _Running:
    """Welford's running mean and variance of the samples, per player."""

    mean: np.ndarray
    m2: np.ndarray
    count: int = 0

    def add(self, sample: np.ndarray) -> None:
        self.count += 1
        delta = sample - self.mean
        self.mean = self.mean + delta / self.count
        self.m2 = self.m2 + delta * (sample - self.mean)

    def stderr(self) -> np.ndarray:
        if self.count < 2:
            return np.full(self.mean.shape, np.inf)
        error: np.ndarray = np.sqrt(np.maximum(self.m2, 0.0) / (self.count - 1) / self.count)
        return error


def _log_progress(
    method: str, progress: SamplingProgress, rule: StoppingCriterion, logged: float
) -> float:
    """Log ``progress`` (INFO) if :data:`PROGRESS_SECONDS` passed since the last line at
    ``logged`` seconds; returns when the last line was logged."""
    if progress.seconds - logged < PROGRESS_SECONDS:
        return logged
    largest, scale = float(np.max(progress.stderr)), float(np.max(np.abs(progress.values)))
    relative = ""
    if scale > 0 and np.isfinite(largest):
        relative = f" ({largest / scale:.1%} of the largest |value|)"
    log.info(
        "%s Shapley of %d players: %d samples (%d permutations), %d coalitions evaluated in "
        "%.0f s, largest standard error %.3g%s; stops on %s",
        method,
        progress.values.size,
        progress.samples,
        progress.permutations,
        progress.evaluations,
        progress.seconds,
        largest,
        relative,
        rule,
    )
    return progress.seconds


def sample_shapley(
    value: ValueFunction,
    n_players: int,
    rng: np.random.Generator,
    *,
    method: str,
    order: str = "stratified",
    truncation: float = 0.0,
    tail_probability: float = DEFAULT_TAIL_PROBABILITY,
    rule: StoppingCriterion | None = None,
    exact_when_cheaper: bool = True,
) -> ShapleyResult:
    """Monte Carlo Shapley values with standard errors: the engine of :func:`tmc_shapley`,
    :func:`permutation_shapley` and GTG-Shapley.

    Each sample is one permutation (``order="iid"``) or a block of n permutations
    (``"stratified"``: cyclic shifts of a random one; ``"guided"``: player k first in the
    k-th) whose mean marginal per player is an unbiased estimate of its value; the samples
    are independent, so their spread gives each value's standard error with
    ``samples - 1`` degrees of freedom. ``truncation`` is the cut tolerance as a fraction
    of |v(N) - v(empty)| (see the module docstring for the unbiased cut).

    ``rule`` is consulted after every sample and, inside a block, after every permutation,
    where only the cost has moved: a budget (:class:`~rengo.valuation.MaxEvaluations`,
    :class:`~rengo.valuation.MaxUpdates`, :class:`~rengo.valuation.MaxTime`) stops
    sampling at the permutation that reaches it, not up to a block (n permutations, about
    n^2 / 2 evaluations) later. The unfinished block is then left out of the values (they
    and their standard errors are those of the whole blocks), or, inside the first block,
    the values are the mean of its scanned permutations with an infinite standard error
    (unbiased for "stratified", whose every shift is a uniform random permutation; under
    "guided" the players put first so far are over-weighted). A run longer than
    :data:`PROGRESS_SECONDS` logs its progress (INFO on ``rengo.valuation``) that often.

    Parameters
    ----------
    value
        The game (a :class:`CountingValue` is reused with its cache).
    n_players
        Players ``0..n_players-1``.
    rng
        Draws the permutations and the tail checks.
    method
        Name recorded in the result.
    order
        "stratified", "guided" or "iid".
    truncation
        Cut tolerance, a fraction of |v(N) - v(empty)| in [0, 1) (0: never cut).
    tail_probability
        Probability of scanning a cut tail anyway (0: the biased cut).
    rule
        When to stop (default :func:`~rengo.valuation.stopping.default_stopping`).
    exact_when_cheaper
        Switch to exact values once :data:`EXACT_SWITCH_COVERAGE` of the coalitions were
        evaluated (at most :data:`MAX_EXACT_PLAYERS` players) unless ``rule`` caps the
        evaluations below 2^n (:class:`~rengo.valuation.MaxEvaluations`), and return them
        whenever sampling has evaluated every coalition, even on the sample that meets
        ``rule``.

    Returns
    -------
    ShapleyResult
        Values, standard errors, degrees of freedom, cost and ``stopped_by``.

    Raises
    ------
    ConfigError
        Bad player count, order, truncation (outside [0, 1)) or tail probability.
    """
    _check_players(n_players)
    if order not in ("stratified", "guided", "iid"):
        raise ConfigError(f"order must be 'stratified', 'guided' or 'iid', got {order!r}")
    check_truncation(truncation)
    if not 0 <= tail_probability <= 1:
        raise ConfigError(f"tail_probability must lie in [0, 1], got {tail_probability}")
    rule = rule or default_stopping()
    counted = value if isinstance(value, CountingValue) else CountingValue(value)
    total = counted(frozenset(range(n_players)))
    empty = counted(frozenset())
    tolerance = truncation * abs(total - empty)
    block = 1 if order == "iid" else n_players
    stream = sample_permutations(
        n_players, rng, guided=order == "guided", stratified=order == "stratified"
    )
    running = _Running(np.zeros(n_players), np.zeros(n_players))
    history: list[np.ndarray] = []
    coalitions = 1 << n_players
    can_switch = exact_when_cheaper and n_players <= MAX_EXACT_PLAYERS
    started = time.monotonic()
    progress = SamplingProgress(
        np.zeros(n_players), np.full(n_players, np.inf), 0, 0, counted.evaluations, 0.0
    )
    logged = 0.0

    def exact_values(reason: str, permutations: int) -> ShapleyResult:
        exact = exact_shapley(counted, n_players)
        return ShapleyResult(
            exact.values,
            counted.evaluations,
            permutations=permutations,
            method=method,
            samples=running.count,
            stopped_by=reason,
        )

    def sampled_values(why: str, permutations: int) -> ShapleyResult:
        error = running.stderr()
        if running.count < DEFAULT_MIN_SAMPLES:
            # a few samples that agree (common on a score of few steps, as accuracy on a
            # small test set, over GTG's 2) show no spread, not no error: it is unknown,
            # never 0, which reads as an exact value with a 95 % interval of one point
            error = np.where(error > 0, error, np.inf)
        return ShapleyResult(
            running.mean.copy(),
            counted.evaluations,
            permutations=permutations,
            method=method,
            stderr=error,
            dof=np.full(n_players, float(max(running.count - 1, 1))),
            samples=running.count,
            stopped_by=why,
        )

    all_evaluated = f"exact: sampling had evaluated all {coalitions} coalitions"
    while True:
        sample = np.zeros(n_players)
        for scanned in range(1, block + 1):
            sample += _scan(counted, next(stream), total, empty, tolerance, tail_probability, rng)
            if scanned == block:
                break
            # inside a block only the cost moved: a budget (evaluations, permutations, time)
            # stops here, not a block later (a block of 100 clients is ~9,000 evaluations)
            permutations = running.count * block + scanned
            if can_switch and counted.evaluations >= coalitions:
                return exact_values(all_evaluated, permutations)
            now = replace(
                progress,
                permutations=permutations,
                evaluations=counted.evaluations,
                seconds=time.monotonic() - started,
            )
            logged = _log_progress(method, now, rule, logged)
            why = rule.reason(now)
            if why is None:
                continue
            if running.count:
                return sampled_values(
                    f"{why}; the {scanned} permutations of the unfinished block are left out "
                    f"of the values (a sample is a whole block of {block})",
                    permutations,
                )
            return ShapleyResult(
                sample / scanned,
                counted.evaluations,
                permutations=permutations,
                method=method,
                stderr=np.full(n_players, np.inf),
                dof=np.ones(n_players),
                stopped_by=f"{why}, inside the first block: the values are the mean of its "
                f"first {scanned} of {block} permutations, with no standard error yet",
            )
        running.add(sample / block)
        history.append(running.mean.copy())
        progress = SamplingProgress(
            running.mean.copy(),
            running.stderr(),
            running.count,
            running.count * block,
            counted.evaluations,
            time.monotonic() - started,
            tuple(history),
        )
        logged = _log_progress(method, progress, rule, logged)
        complete = can_switch and counted.evaluations >= coalitions
        why = None if complete else rule.reason(progress)
        if why is not None:
            return sampled_values(why, running.count * block)
        if (
            can_switch
            and counted.evaluations >= EXACT_SWITCH_COVERAGE * coalitions
            # evaluating the rest must not overrun a budget of evaluations the rule sets
            and (complete or rule.reason(replace(progress, evaluations=coalitions - 1)) is None)
        ):
            sampled = counted.evaluations
            return exact_values(
                all_evaluated
                if complete
                else f"exact: sampling had evaluated {sampled} of the {coalitions} coalitions "
                f"without meeting {rule}; evaluating the other {coalitions - sampled} "
                "was cheaper",
                running.count * block,
            )


def tmc_shapley(
    value: ValueFunction,
    n_players: int,
    rng: np.random.Generator,
    *,
    truncation: float = 0.05,
    rule: StoppingCriterion | None = None,
    stratified: bool = True,
    tail_probability: float = DEFAULT_TAIL_PROBABILITY,
    exact_when_cheaper: bool = True,
) -> ShapleyResult:
    """Truncated Monte Carlo Shapley (Ghorbani & Zou 2019, "Data Shapley", Algorithm 1),
    with standard errors and an unbiased cut.

    Samples permutations and scans each one, adding players to the prefix; once
    |v(N) - v(prefix)| < ``truncation`` * |v(N) - v(empty)| the rest of the permutation is
    skipped - except with probability ``tail_probability``, when it is scanned and weighted
    1 / ``tail_probability``, so skipping costs no bias (``tail_probability=0``: the paper's
    cut, biased on games whose tails do not add up to ~0). With that unbiased cut the values
    add up to v(N) - v(empty) only in expectation (within their standard errors), not in
    every run; ``tail_probability=0`` keeps each sample's sum within the cut tolerance of
    it, at the price of the bias (see the module docstring). (Ghorbani & Zou scale the
    tolerance by v(N); scaling by the total gain keeps it meaningful for scores that are not
    0 for the empty coalition, such as log loss, and a game with v(N) = v(empty) is never
    cut.) ``stratified`` (default) draws Latin-square blocks of permutations (see
    :func:`sample_permutations`), which cuts the variance for the same number of
    evaluations; ``stratified=False`` is the paper's i.i.d. sampling.

    Cost: a permutation evaluates at most n new coalitions (fewer once cut, or cached).
    The default rule trusts a standard error from 16 samples, and a stratified sample is a
    block of n permutations, so it scans at least 16 n permutations (up to its cap of
    2,000): on ``benchmarks/shapley_scale.py``'s learning-curve game 35,654 / 144,720 /
    364,603 evaluations at 50 / 100 / 200 players, where ``stratified=False`` needs 16
    permutations before the rule can stop it. Cap the cost with ``rule`` (e.g.
    ``default_stopping() | MaxEvaluations(10_000)``).

    Parameters
    ----------
    value
        The game.
    n_players
        Players ``0..n_players-1``.
    rng
        Draws the permutations; the same seed gives the same values.
    truncation
        Cut tolerance, a fraction of |v(N) - v(empty)| in [0, 1).
    rule
        When to stop (default :func:`~rengo.valuation.stopping.default_stopping`: standard
        errors below 5 % of the largest |value|, at most 2,000 permutations).
    stratified
        Latin-square blocks (default) or i.i.d. permutations.
    tail_probability
        Probability of scanning a cut tail anyway.
    exact_when_cheaper
        Return exact values once sampling has evaluated most coalitions (see
        :data:`EXACT_SWITCH_COVERAGE`).

    Returns
    -------
    ShapleyResult
        Values with standard errors, method "tmc".
    """
    return sample_shapley(
        value,
        n_players,
        rng,
        method="tmc",
        order="stratified" if stratified else "iid",
        truncation=truncation,
        tail_probability=tail_probability,
        rule=rule,
        exact_when_cheaper=exact_when_cheaper,
    )


def permutation_shapley(
    value: ValueFunction,
    n_players: int,
    rng: np.random.Generator,
    *,
    rule: StoppingCriterion | None = None,
    exact_when_cheaper: bool = True,
) -> ShapleyResult:
    """Monte Carlo permutation sampling (Castro et al. 2009): i.i.d. permutations, no
    truncation; unbiased, with standard errors from the per-permutation marginals.

    Cost: n evaluations a permutation at most (fewer where a prefix is cached), at least 16
    permutations under the default rule: 6,098 / 13,725 / 29,175 evaluations at 50 / 100 /
    200 players on ``benchmarks/shapley_scale.py``'s learning-curve game.

    Parameters
    ----------
    value
        The game.
    n_players
        Players ``0..n_players-1``.
    rng
        Draws the permutations.
    rule
        When to stop (default :func:`~rengo.valuation.stopping.default_stopping`).
    exact_when_cheaper
        Return exact values once sampling has evaluated most coalitions.

    Returns
    -------
    ShapleyResult
        Values with standard errors, method "permutation".
    """
    return sample_shapley(
        value,
        n_players,
        rng,
        method="permutation",
        order="iid",
        rule=rule,
        exact_when_cheaper=exact_when_cheaper,
    )


def combine_estimates(
    values: np.ndarray,
    stderr: np.ndarray,
    dof: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted sum of independent estimates (e.g. per-round values into a run's total):
    ``sum_t w_t phi_t``, its standard error ``sqrt(sum_t w_t^2 se_t^2)`` and its degrees
    of freedom by Welch-Satterthwaite.

    Parameters
    ----------
    values, stderr, dof
        Shape (estimates, players).
    weights
        Shape (estimates,).

    Returns
    -------
    tuple of numpy.ndarray
        Combined values, standard errors and degrees of freedom (inf where exact).
    """
    w = np.asarray(weights, dtype=np.float64)
    total = w @ values
    variance = (w[:, None] ** 2) * np.asarray(stderr, dtype=np.float64) ** 2
    combined = variance.sum(axis=0)
    finite = np.isfinite(dof) & (variance > 0)
    denominator = np.where(finite, variance**2 / np.where(finite, dof, 1.0), 0.0).sum(axis=0)
    effective = np.full(total.shape, np.inf)
    positive = (denominator > 0) & np.isfinite(combined)
    effective[positive] = combined[positive] ** 2 / denominator[positive]
    effective[~np.isfinite(combined)] = 1.0  # an infinite error: the interval is unbounded
    return total, np.sqrt(combined), effective
