"""GTG-Shapley: guided truncated gradient Shapley for FL clients (Liu et al. 2022,
"GTG-Shapley: Efficient and Accurate Participant Contribution Evaluation in Federated
Learning", ACM TIST 13(4)). The default estimator when there are many clients.

Per round it samples permutations of the clients over the reconstructed-model game of
:mod:`rengo.valuation.reconstruction`, and saves evaluations three ways:
between-round truncation (skip a round whose global model barely moved the score),
within-round truncation (stop scanning a permutation once the prefix is within ``eps`` of
v(all)), and guided sampling (permutation k puts client k mod n first, so every client's
solo marginal is measured early and the estimate converges in few permutations).

Two changes keep the estimate honest on any game. A round is skipped only when its gain
*and* every client's solo and leave-one-out marginal are below ``between_round_eps``: a
round whose clients cancel out (v(all) = v(empty), values [10, -10]) is valued, not zeroed.
And the within-round cut is the unbiased one of :func:`rengo.valuation.tmc_shapley`, with
standard errors and the same stopping rules (:mod:`rengo.valuation.stopping`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rengo.core.errors import ConfigError
from rengo.valuation.reconstruction import (
    Evaluate,
    RoundUpdates,
    players_of,
    round_value_function,
)
from rengo.valuation.shapley import (
    DEFAULT_TAIL_PROBABILITY,
    CountingValue,
    ShapleyResult,
    ValueFunction,
    check_truncation,
    combine_estimates,
    sample_shapley,
)
from rengo.valuation.stopping import StoppingCriterion, default_stopping


@dataclass(frozen=True)
class GTGConfig:
    """Knobs of GTG-Shapley.

    ``between_round_eps`` is an absolute score difference: a round is skipped when its
    global model moved the score by less and no client's solo or leave-one-out marginal
    reaches it either. ``within_round_eps`` is a fraction in [0, 1) of the round's gain
    |v(w_{t+1}) - v(w_t)|: a permutation stops being scanned once its prefix is that close
    to v(w_{t+1}) (scale-free, so one default fits accuracy and log loss alike), except
    with probability ``tail_probability`` (then weighted, keeping the estimate unbiased).
    ``rule`` decides when sampling stops (default: standard errors below 5 % of the largest
    |value|). ``guided`` is the paper's round-robin of first positions; ``stratified``
    (default) realises it with cyclic shifts of a random permutation, so each client also
    takes every position once per n permutations (see
    :func:`rengo.valuation.shapley.sample_permutations`). ``exact_when_cheaper`` returns
    exact values once sampling has evaluated most coalitions.

    Cost: the default rule samples at least
    :data:`~rengo.valuation.stopping.DEFAULT_MIN_SAMPLES` (16) blocks of n permutations
    before it trusts a standard error, and a 5 % precision costs more as clients multiply
    (about 18,000 evaluations for one round of 50 clients in ``benchmarks/contribution.py``). Many
    rounds average out per-round noise, so a long run of a large federation can take a
    looser or capped rule, e.g. ``RelativeStandardError(0.2) | MaxUpdates(4 * n)``; the
    reported standard errors say what that buys.
    """

    within_round_eps: float = 0.05
    between_round_eps: float = 1e-3
    guided: bool = True
    stratified: bool = True
    rule: StoppingCriterion = field(default_factory=default_stopping)
    tail_probability: float = DEFAULT_TAIL_PROBABILITY
    exact_when_cheaper: bool = True

    def __post_init__(self) -> None:
        if self.between_round_eps < 0:
            raise ConfigError(f"between_round_eps must be >= 0, got {self.between_round_eps}")
        check_truncation(self.within_round_eps, "within_round_eps")
        if not 0 <= self.tail_probability <= 1:
            raise ConfigError(f"tail_probability must lie in [0, 1], got {self.tail_probability}")


def _flat_round(counted: CountingValue, n_players: int, eps: float) -> bool:
    """Whether the round may be skipped: v(all) - v(empty) and every solo and
    leave-one-out marginal are below ``eps`` in magnitude (2n + 2 evaluations)."""
    everyone = frozenset(range(n_players))
    start, end = counted(frozenset()), counted(everyone)
    if abs(end - start) >= eps:
        return False
    return all(
        abs(counted(frozenset({i})) - start) < eps and abs(end - counted(everyone - {i})) < eps
        for i in range(n_players)
    )


def gtg_round_shapley(
    value: ValueFunction,
    n_players: int,
    rng: np.random.Generator,
    config: GTGConfig | None = None,
) -> ShapleyResult:
    """GTG-Shapley for one round's game, where v(empty) is the score of w_t and v(all) the
    score of w_{t+1}.

    With the default unbiased within-round cut (``config.tail_probability`` > 0, Russian
    roulette) the values add up to v(all) - v(empty) only in expectation, within their
    standard errors, not in every round; ``tail_probability=0`` (the paper's cut) keeps
    each sample's sum within the cut tolerance of it but biases the values, and
    ``within_round_eps=0`` keeps both (see :mod:`rengo.valuation.shapley`).

    Parameters
    ----------
    value
        The round's game.
    n_players
        The round's clients ``0..n-1``.
    rng
        Draws the permutations.
    config
        Thresholds and stopping rule (default :class:`GTGConfig`).

    Returns
    -------
    ShapleyResult
        Values with standard errors. A skipped (flat) round has values 0, standard error 0
        and ``stopped_by`` naming the between-round truncation; those zeros are the skip's,
        not exact: coalitions of 2 to n - 2 clients are not looked at, so a round whose
        pairs alone move the score is skipped (4 clients, v({0, 1}) = 0.5,
        v({2, 3}) = -0.5, every other coalition 0: exact values +-0.083, skipped at the
        default 0.001). ``between_round_eps=0`` never skips.

    Raises
    ------
    ConfigError
        No players.
    """
    if n_players < 1:
        raise ConfigError(f"n_players must be at least 1, got {n_players}")
    config = config or GTGConfig()
    counted = CountingValue(value)
    if _flat_round(counted, n_players, config.between_round_eps):
        return ShapleyResult(
            np.zeros(n_players),
            counted.evaluations,
            method="gtg",
            stopped_by=(
                f"between-round truncation: the round's gain and every solo and "
                f"leave-one-out marginal are below {config.between_round_eps:g}"
            ),
        )
    order = "stratified" if config.stratified else ("guided" if config.guided else "iid")
    return sample_shapley(
        counted,
        n_players,
        rng,
        method="gtg",
        order=order,
        truncation=config.within_round_eps,
        tail_probability=config.tail_probability,
        rule=config.rule,
        exact_when_cheaper=config.exact_when_cheaper,
    )


def gtg_shapley(
    rounds: Sequence[RoundUpdates],
    evaluate: Evaluate,
    rng: np.random.Generator,
    config: GTGConfig | None = None,
    round_weights: Sequence[float] | None = None,
) -> ShapleyResult:
    """GTG-Shapley over a whole run: per-round estimates (each over the clients of that
    round) summed with optional ``round_weights``; per-round values in ``per_round``.

    Liu et al. 2022, "GTG-Shapley: Efficient and Accurate Participant Contribution
    Evaluation in Federated Learning" (ACM TIST): rounds whose global model barely moved
    are skipped, and permutations are truncated once their prefix nears the round's score.
    As in :func:`gtg_round_shapley`, each round's values add up to its score gain only in
    expectation with the default unbiased cut (``tail_probability=0``: in every sample,
    to within the cut tolerance, but biased).

    Parameters
    ----------
    rounds:
        Each round's global model and client updates, in order.
    evaluate:
        The validation score of a model (higher is better).
    rng:
        Draws the permutations; the same seed gives the same values.
    config:
        Truncation thresholds and the stopping rule (default :class:`GTGConfig`).
    round_weights:
        Weight of each round's values in the total, default 1.

    Returns
    -------
    ShapleyResult
        Totals per client (sorted ids in ``players``) with standard errors combined over
        the (independent) rounds, and each round's values and errors in ``per_round`` and
        ``per_round_stderr``.

    Raises
    ------
    ConfigError
        No rounds, or a number of round weights other than of rounds.
    """
    if not rounds:
        raise ConfigError("contribution needs at least one round of updates")
    players = players_of(rounds)
    index = {p: i for i, p in enumerate(players)}
    weights = [1.0] * len(rounds) if round_weights is None else list(round_weights)
    if len(weights) != len(rounds):
        raise ConfigError(f"{len(weights)} round weights for {len(rounds)} rounds")
    per_round = np.zeros((len(rounds), len(players)))
    per_round_stderr = np.zeros_like(per_round)
    per_round_dof = np.full_like(per_round, np.inf)
    evaluations = permutations = samples = 0
    for t, r in enumerate(rounds):
        participants = sorted(r.client_ids)
        result = gtg_round_shapley(
            round_value_function(r, participants, evaluate), len(participants), rng, config
        )
        for local, cid in enumerate(participants):
            per_round[t, index[cid]] = result.values[local]
            per_round_stderr[t, index[cid]] = result.stderr[local]
            per_round_dof[t, index[cid]] = result.dof[local]
        evaluations += result.evaluations
        permutations += result.permutations
        samples += result.samples
    values, stderr, dof = combine_estimates(
        per_round, per_round_stderr, per_round_dof, np.asarray(weights, dtype=np.float64)
    )
    return ShapleyResult(
        values,
        evaluations,
        players,
        permutations,
        method="gtg",
        per_round=per_round,
        stderr=stderr,
        dof=dof,
        samples=samples,
        stopped_by="per round",
        per_round_stderr=per_round_stderr,
    )
