"""GTG-Shapley: guided truncated gradient Shapley for FL clients (Liu et al. 2022,
"GTG-Shapley: Efficient and Accurate Participant Contribution Evaluation in Federated
Learning", ACM TIST 13(4)). The default estimator when there are many clients.

Per round it samples permutations of the clients over the reconstructed-model game of
:mod:`rengo.valuation.reconstruction`, and saves evaluations three ways:
between-round truncation (skip a round whose global model barely moved the score),
within-round truncation (stop scanning a permutation once the prefix is within ``eps`` of
v(all)), and guided sampling (permutation k puts client k mod n first, so every client's
solo marginal is measured early and the estimate converges in few permutations).
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
    ConvergenceRule,
    CountingValue,
    ShapleyResult,
    ValueFunction,
    truncated_monte_carlo,
)


@dataclass(frozen=True)
class GTGConfig:
    """Knobs of GTG-Shapley.

    ``between_round_eps`` is an absolute score difference: a round whose global model moved
    the score by less is skipped. ``within_round_eps`` is a fraction of the round's gain
    |v(w_{t+1}) - v(w_t)|: a permutation stops being scanned once its prefix is that close
    to v(w_{t+1}) (scale-free, so one default fits accuracy and log loss alike). ``rule`` is
    checked only after every client was placed first once. ``guided`` is the paper's
    round-robin of first positions; ``stratified`` (default) realises it with cyclic shifts
    of a random permutation, so each client also takes every position once per n
    permutations (see :func:`rengo.valuation.shapley.sample_permutations`).
    """

    within_round_eps: float = 0.05
    between_round_eps: float = 1e-3
    guided: bool = True
    stratified: bool = True
    rule: ConvergenceRule = field(
        default_factory=lambda: ConvergenceRule(tolerance=0.05, window=3, max_permutations=200)
    )

    def __post_init__(self) -> None:
        if self.within_round_eps < 0 or self.between_round_eps < 0:
            raise ConfigError("GTG truncation thresholds must be >= 0")


def gtg_round_shapley(
    value: ValueFunction,
    n_players: int,
    rng: np.random.Generator,
    config: GTGConfig | None = None,
) -> ShapleyResult:
    """GTG-Shapley for one round's game, where v(empty) is the score of w_t and v(all) the
    score of w_{t+1}. Returns zeros (2 evaluations) when the round is truncated."""
    if n_players < 1:
        raise ConfigError(f"n_players must be at least 1, got {n_players}")
    config = config or GTGConfig()
    counted = CountingValue(value)
    start = counted(frozenset())
    end = counted(frozenset(range(n_players)))
    if abs(end - start) < config.between_round_eps:
        return ShapleyResult(np.zeros(n_players), counted.evaluations, method="gtg")
    values, permutations = truncated_monte_carlo(
        counted,
        n_players,
        rng,
        tolerance=config.within_round_eps * abs(end - start),
        rule=config.rule,
        guided=config.guided,
        stratified=config.stratified,
    )
    return ShapleyResult(values, counted.evaluations, permutations=permutations, method="gtg")


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
        Totals per client (sorted ids in ``players``) and each round's values in
        ``per_round``.

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
    evaluations = permutations = 0
    for t, r in enumerate(rounds):
        participants = sorted(r.client_ids)
        result = gtg_round_shapley(
            round_value_function(r, participants, evaluate), len(participants), rng, config
        )
        for local, cid in enumerate(participants):
            per_round[t, index[cid]] = result.values[local]
        evaluations += result.evaluations
        permutations += result.permutations
    values = np.asarray(weights, dtype=np.float64) @ per_round
    return ShapleyResult(
        values, evaluations, players, permutations, method="gtg", per_round=per_round
    )
