"""Contribution of FL clients from reconstructed coalition models (Song et al. 2019,
"Profit Allocation for Federated Learning", IEEE Big Data: the MR and OR indices).

Nothing is retrained: the model of a coalition S is rebuilt from the updates the clients
already sent, as the FedAvg of S's updates (the round's global model when S is empty), and
its value is the coordinator's validation score of that model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.parameters import Parameters, copy_parameters
from rengo.hfl import WeightedSum, cast_like
from rengo.valuation.shapley import (
    MAX_EXACT_PLAYERS,
    ShapleyResult,
    ValueFunction,
    combine_estimates,
    exact_shapley,
)

Evaluate = Callable[[Parameters], float]
"""The coordinator's validation score of a model (higher is better)."""

CoalitionModel = Callable[[frozenset[str]], Parameters]
"""The model a coalition (client ids) makes in one round."""


@dataclass(frozen=True)
class RoundUpdates:
    """What one FL round leaves behind for contribution accounting.

    ``global_params`` is the model broadcast at the start of the round (w_t); ``updates[i]``
    are the full parameters client ``client_ids[i]`` returned, weighted by ``weights[i]``
    (its number of training examples).
    """

    round: int
    global_params: Parameters
    client_ids: tuple[str, ...]
    updates: tuple[Parameters, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.client_ids)
        if len(self.updates) != n or len(self.weights) != n:
            raise DataError(
                f"round {self.round}: {n} client ids, {len(self.updates)} updates, "
                f"{len(self.weights)} weights; they must match"
            )
        if len(set(self.client_ids)) != n:
            raise DataError(f"round {self.round}: duplicate client ids {self.client_ids}")
        if any(not np.isfinite(w) or w < 0 for w in self.weights):
            raise DataError(f"round {self.round}: weights must be finite and >= 0")
        for cid, update in zip(self.client_ids, self.updates, strict=True):
            if len(update) != len(self.global_params) or any(
                u.shape != g.shape for u, g in zip(update, self.global_params, strict=True)
            ):
                raise DataError(f"round {self.round}: update of {cid!r} does not match model")


def fedavg_parameters(updates: Sequence[Parameters], weights: Sequence[float]) -> Parameters:
    """Weighted average of parameter lists (McMahan et al. 2017), computed exactly as the
    coordinator's :class:`~rengo.hfl.FedAvg` does: products and sums in float64 (the same
    :class:`~rengo.hfl.WeightedSum`, in the same order), rounded once to each array's dtype.
    So the grand coalition's model is the coordinator's model, bit for bit.

    Parameters
    ----------
    updates
        Each client's full parameters.
    weights
        Each client's weight (its example count), finite and >= 0.

    Returns
    -------
    list of numpy.ndarray
        The weighted mean, in the dtypes of ``updates[0]``.

    Raises
    ------
    DataError
        No update with positive weight, a negative weight, or mismatched arrays.
    """
    if not updates or len(updates) != len(weights):
        raise DataError(f"{len(updates)} updates for {len(weights)} weights")
    acc = WeightedSum(updates[0])
    for update, weight in zip(updates, weights, strict=True):
        acc.add(update, float(weight), {})
    if acc.total_weight <= 0:
        raise DataError("FedAvg needs at least one update with positive weight")
    return [cast_like(m, like) for m, like in zip(acc.mean(), updates[0], strict=True)]


def players_of(rounds: Sequence[RoundUpdates]) -> tuple[str, ...]:
    """Every client that took part in at least one round, sorted: the players of the game."""
    return tuple(sorted({cid for r in rounds for cid in r.client_ids}))


def coalition_round_model(round_updates: RoundUpdates, coalition: frozenset[str]) -> Parameters:
    """FedAvg of the coalition's updates in this round; w_t when none of them took part."""
    chosen = [i for i, cid in enumerate(round_updates.client_ids) if cid in coalition]
    weights = [round_updates.weights[i] for i in chosen]
    if not chosen or sum(weights) <= 0:
        return copy_parameters(round_updates.global_params)
    return fedavg_parameters([round_updates.updates[i] for i in chosen], weights)


def round_value_function(
    round_updates: RoundUpdates,
    players: Sequence[str],
    evaluate: Evaluate,
    coalition_model: CoalitionModel | None = None,
) -> ValueFunction:
    """v_t(S) = evaluate(model of S's round-t updates), over player indices into ``players``.

    Parameters
    ----------
    round_updates
        The round's global model and client updates.
    players
        The players, in the order the game indexes them.
    evaluate
        The validation score of a model (higher is better).
    coalition_model
        Builds a coalition's model from its members' names; default the FedAvg of their
        updates (:func:`coalition_round_model`). A contribution tracker passes the run's own
        aggregation replayed on the coalition (:mod:`rengo.hfl.coalition_aggregation`).

    Returns
    -------
    ValueFunction
        The round's game.
    """
    build = coalition_model or (lambda names: coalition_round_model(round_updates, names))

    def value(coalition: frozenset[int]) -> float:
        return float(evaluate(build(frozenset(players[i] for i in coalition))))

    return value


def _check_rounds(rounds: Sequence[RoundUpdates], exact: bool = True) -> tuple[str, ...]:
    if not rounds:
        raise ConfigError("contribution needs at least one round of updates")
    players = players_of(rounds)
    if exact and len(players) > MAX_EXACT_PLAYERS:
        raise ConfigError(
            f"{len(players)} clients is too many for exact per-round Shapley; use gtg_shapley"
        )
    return players


def mr_shapley(
    rounds: Sequence[RoundUpdates],
    evaluate: Evaluate,
    round_weights: Sequence[float] | None = None,
    estimator: Callable[[ValueFunction, int], ShapleyResult] | None = None,
) -> ShapleyResult:
    """Multi-Round (MR) index of Song et al. 2019: sum_t lambda_t * phi_t, where phi_t is the
    Shapley value of the game v_t(S) = evaluate(FedAvg_S(round-t updates)).

    ``round_weights`` (lambda_t) default to 1; the per-round values are in ``per_round``.
    ``estimator(value, n)`` defaults to :func:`exact_shapley`; pass e.g. a
    :func:`~rengo.valuation.shapley.tmc_shapley` partial for many clients.

    Parameters
    ----------
    rounds:
        Each round's global model and client updates, in order.
    evaluate:
        The validation score of a model (higher is better).
    round_weights:
        lambda_t per round, default 1.
    estimator:
        ``estimator(value, n)`` estimates one round's game; default exact Shapley (at most
        16 clients a round), e.g. a :func:`~rengo.valuation.shapley.tmc_shapley` partial
        for more.

    Returns
    -------
    ShapleyResult
        Totals per client (sorted ids in ``players``) and each round's values in
        ``per_round``.

    Raises
    ------
    ConfigError
        No rounds, too many clients for exact Shapley, or a number of round weights other
        than of rounds.
    """
    estimate = estimator or exact_shapley
    players = _check_rounds(rounds, exact=estimator is None)
    if round_weights is None:
        round_weights = [1.0] * len(rounds)
    if len(round_weights) != len(rounds):
        raise ConfigError(f"{len(round_weights)} round weights for {len(rounds)} rounds")
    per_round = np.zeros((len(rounds), len(players)))
    per_round_stderr = np.zeros_like(per_round)
    per_round_dof = np.full_like(per_round, np.inf)
    evaluations = permutations = samples = 0
    for t, r in enumerate(rounds):
        result = estimate(round_value_function(r, players, evaluate), len(players))
        per_round[t] = result.values
        per_round_stderr[t] = result.stderr
        per_round_dof[t] = result.dof
        evaluations += result.evaluations
        permutations += result.permutations
        samples += result.samples
    values, stderr, dof = combine_estimates(
        per_round, per_round_stderr, per_round_dof, np.asarray(round_weights, dtype=np.float64)
    )
    return ShapleyResult(
        values,
        evaluations,
        players,
        permutations,
        method="mr",
        per_round=per_round,
        stderr=stderr,
        dof=dof,
        samples=samples,
        stopped_by="per round",
        per_round_stderr=per_round_stderr,
    )


def coalition_whole_run_model(
    rounds: Sequence[RoundUpdates], coalition: frozenset[str]
) -> Parameters:
    """The OR reconstruction: start from w_0 and apply, round after round, the FedAvg of the
    coalition's deltas (update - w_t), in float64 and rounded once at the end; rounds where
    none of S took part change nothing."""
    model = [np.asarray(p, dtype=np.float64).copy() for p in rounds[0].global_params]
    for r in rounds:
        chosen = [i for i, cid in enumerate(r.client_ids) if cid in coalition]
        weights = [r.weights[i] for i in chosen]
        total = float(sum(weights))
        if not chosen or total <= 0:
            continue
        for k, base in enumerate(r.global_params):
            step = np.zeros(base.shape, dtype=np.float64)
            start = np.asarray(base, dtype=np.float64)
            for i, w in zip(chosen, weights, strict=True):
                step += float(w) * (np.asarray(r.updates[i][k], dtype=np.float64) - start)
            model[k] += step / total
    return [cast_like(m, p) for m, p in zip(model, rounds[0].global_params, strict=True)]


def or_shapley(rounds: Sequence[RoundUpdates], evaluate: Evaluate) -> ShapleyResult:
    """One-Round (OR) index of Song et al. 2019: one exact Shapley over the game
    v(S) = evaluate(model rebuilt from all rounds' stored updates of S).

    Parameters
    ----------
    rounds:
        Each round's global model and client updates, in order.
    evaluate:
        The validation score of a model (higher is better).

    Returns
    -------
    ShapleyResult
        One exact value per client (sorted ids in ``players``).

    Raises
    ------
    ConfigError
        No rounds, or more clients than exact Shapley allows.
    """
    players = _check_rounds(rounds)

    def value(coalition: frozenset[int]) -> float:
        names = frozenset(players[i] for i in coalition)
        return float(evaluate(coalition_whole_run_model(rounds, names)))

    result = exact_shapley(value, len(players))
    return ShapleyResult(result.values, result.evaluations, players, method="or")
