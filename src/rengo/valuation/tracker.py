"""Online contribution accounting for a horizontal FL run: a round observer for the
coordinator that turns each round's validated client updates into Shapley values.

The value of a coalition S in round t is the coordinator's validation score of the model the
run's strategy makes from S's round-t updates (the round's global model for S empty): the
FedAvg of them, as in Song et al. 2019 (MR index) and Liu et al. 2022 (GTG-Shapley), or,
under a strategy that aggregates otherwise (FedAdam, a robust rule, SCAFFOLD, norm bounding),
its own aggregation replayed on S's results from the round's server state
(:mod:`rengo.hfl.coalition_aggregation`), so a round's values add up to the run's score
change (exactly for "mr"; within the standard errors for the sampled methods). Only what
the coordinator already receives is used: the updates, their example counts, and its own
held-out evaluation; nothing else leaves a client. Per-round methods ("gtg", "mr", "tmc",
"loo") are computed at the end of each round, so one round of updates is held in memory at a
time; "or" (Song et al.'s one-round reconstruction over the whole run) needs every
round's updates until the run ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.messages import FitResult, Metrics
from rengo.core.parameters import Parameters, copy_parameters, num_values
from rengo.hfl.coalition_aggregation import CoalitionAggregation
from rengo.valuation.gtg import GTGConfig, gtg_round_shapley
from rengo.valuation.identity import identical_updates, identity_groups
from rengo.valuation.reconstruction import (
    CoalitionModel,
    Evaluate,
    RoundUpdates,
    coalition_round_model,
    or_shapley,
    round_value_function,
)
from rengo.valuation.shapley import (
    CONFIDENCE,
    DEFAULT_TAIL_PROBABILITY,
    NonFiniteValueError,
    ShapleyResult,
    check_truncation,
    combine_estimates,
    exact_shapley,
    leave_one_out,
    tmc_shapley,
)
from rengo.valuation.stopping import StoppingCriterion, default_stopping, student_quantile

log = logging.getLogger("rengo.valuation")

METHODS = ("gtg", "mr", "tmc", "loo", "or")
"""Contribution methods of :class:`ContributionTracker`."""
SECAGG_METHODS = tuple(m for m in METHODS if m != "or")
"""The methods that work under secure aggregation: each falls back to group level where the
coordinator sees only the round's sum; "or" rebuilds models from every client's update over
the whole run, so it cannot."""
GROUP_LEVEL = "group level"
"""How a round valued at group level says so in its ``stopped_by``."""

MAX_EXACT_ROUND_PLAYERS = 12
"""Exact per-round Shapley ("mr") evaluates 2^n coalitions a round: 4,096 at 12 clients."""

DEFAULT_MAX_STORED_VALUES = 200_000_000
"""Default cap on parameter scalars held at once (clients x params, x rounds for "or")."""


@dataclass(frozen=True)
class RoundContribution:
    """One round's contribution of each participating player (client or identity group),
    with each value's standard error and its degrees of freedom (0 and inf where exact),
    and why the estimate stopped."""

    round: int
    values: dict[str, float]
    evaluations: int
    permutations: int = 0
    truncated: bool = False
    stderr: dict[str, float] = field(default_factory=dict)
    dof: dict[str, float] = field(default_factory=dict)
    stopped_by: str = ""


def _intervals(
    values: dict[str, float], stderr: dict[str, float], dof: dict[str, float], level: float
) -> dict[str, tuple[float, float]]:
    names = sorted(values)
    se = np.array([stderr.get(p, 0.0) for p in names])
    q = student_quantile(level, np.array([dof.get(p, np.inf) for p in names]))
    return {
        p: (values[p] - float(h), values[p] + float(h)) for p, h in zip(names, q * se, strict=True)
    }


REPORT_REPR_PLAYERS = 10
"""How many players (the most valuable first) a :class:`ContributionReport`'s repr names."""


@dataclass(frozen=True, repr=False)
class ContributionReport:
    """A run's contribution: totals per player (sum over rounds) with standard errors
    (combined over the independent rounds), each round's values, and what computing them
    cost in model evaluations."""

    method: str
    values: dict[str, float]
    rounds: tuple[RoundContribution, ...]
    evaluations: int
    permutations: int
    score_name: str = "score"
    stderr: dict[str, float] = field(default_factory=dict)
    dof: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """What a reader of the values must know: the run's strategy rebuilt as FedAvg, clients
    valued as one player for identical updates (each recorded with the run as a warning)."""
    approximation: dict[str, float] = field(default_factory=dict)
    """The settings that truncated the sampling, by name: GTG's ``within_round_eps``,
    ``between_round_eps`` and ``tail_probability``, TMC's ``truncation`` and
    ``tail_probability`` (empty for an exact method), so whoever pays the values can say how
    they were approximated."""

    @property
    def players(self) -> tuple[str, ...]:
        """Every player, sorted."""
        return tuple(sorted(self.values))

    @property
    def group_level_rounds(self) -> tuple[int, ...]:
        """Rounds valued at group level (the round's score change shared equally), not per
        client by ``method``: secure aggregation showed only their sum, or a coalition's
        model scored NaN or infinity."""
        return tuple(r.round for r in self.rounds if r.stopped_by.startswith(GROUP_LEVEL))

    @property
    def method_label(self) -> str:
        """``method``, and how many rounds fell back to group level if any:
        ``"gtg; group level in 3 of 5 rounds"``."""
        fell_back = len(self.group_level_rounds)
        if not fell_back:
            return self.method
        return f"{self.method}; group level in {fell_back} of {len(self.rounds)} rounds"

    def ranking(self) -> list[tuple[str, float]]:
        """Players from most to least valuable (ties by name)."""
        return sorted(self.values.items(), key=lambda kv: (-kv[1], kv[0]))

    def __repr__(self) -> str:
        """A few lines a notebook can show: the most valuable players' totals with their
        standard errors, and what the valuation cost; not every round's values (``rounds``
        holds them)."""
        ranked = self.ranking()
        shown = [
            f"  {p}: {v:.4g}" + (f" +- {self.stderr[p]:.2g}" if self.stderr.get(p) else "")
            for p, v in ranked[:REPORT_REPR_PLAYERS]
        ]
        if len(ranked) > len(shown):
            shown.append(f"  ... {len(ranked) - len(shown)} more (values, ranking())")
        head = (
            f"ContributionReport({self.method_label}, {self.score_name}; {len(ranked)} players, "
            f"{len(self.rounds)} rounds, {self.evaluations} evaluations"
        )
        notes = [f"  note: {n}" for n in self.notes]
        return "\n".join([head + ")", *shown, *notes])

    def intervals(self, level: float = CONFIDENCE) -> dict[str, tuple[float, float]]:
        """Each total's two-sided Student-t confidence interval at ``level`` (a point where
        the value is exact)."""
        return _intervals(self.values, self.stderr, self.dof, level)

    def as_dict(self) -> dict[str, object]:
        """Plain types only, for JSON reports."""
        return {
            "method": self.method,
            "score_name": self.score_name,
            "values": dict(self.values),
            "stderr": {p: self.stderr.get(p, 0.0) for p in self.values},
            "confidence": CONFIDENCE,
            "intervals": {p: list(ci) for p, ci in self.intervals().items()},
            "evaluations": self.evaluations,
            "permutations": self.permutations,
            "approximation": dict(self.approximation),
            "rounds": [
                {
                    "round": r.round,
                    "values": dict(r.values),
                    "stderr": {p: r.stderr.get(p, 0.0) for p in r.values},
                    "evaluations": r.evaluations,
                    "permutations": r.permutations,
                    "truncated": r.truncated,
                    "stopped_by": r.stopped_by,
                }
                for r in self.rounds
            ],
        }


def validation_score(
    evaluate: Callable[[Parameters], tuple[float, Metrics]], metric: str = "accuracy"
) -> Evaluate:
    """Adapt a coordinator evaluation ``params -> (loss, metrics)`` into a score where higher
    is better: ``metrics[metric]``, minus the loss for ``metric="neg_loss"``, or minus
    ``metrics[name]`` for ``metric="neg_<name>"`` the evaluation does not give itself
    (``neg_rmse``: a regression's RMSE).

    Parameters
    ----------
    evaluate:
        The coordinator's evaluation of a model.
    metric:
        The metric to read, ``"neg_loss"``, or ``"neg_<metric>"``.

    Returns
    -------
    Evaluate
        ``params -> score``; it raises :class:`ConfigError` when the evaluation lacks
        ``metric``.
    """

    def score(params: Parameters) -> float:
        loss, metrics = evaluate(params)
        if metric == "neg_loss":
            return -float(loss)
        negated = metric.removeprefix("neg_")
        if metric not in metrics and negated != metric and negated in metrics:
            return -float(metrics[negated])
        if metric not in metrics:
            raise ConfigError(f"evaluation has no metric {metric!r}; has {sorted(metrics)}")
        return float(metrics[metric])

    return score


@dataclass
class _PendingRound:
    global_params: Parameters
    client_ids: list[str] = field(default_factory=list)
    updates: list[Parameters] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    extras: list[Parameters] = field(default_factory=list)  # arrays after the model's
    aggregation: CoalitionAggregation | None = None
    copies: dict[str, list[str]] = field(default_factory=dict)  # merged player -> clients

    def results(self, indices: Sequence[int]) -> list[tuple[str, FitResult]]:
        """The results of the clients at ``indices`` as the strategy received them."""
        return [
            (
                self.client_ids[i],
                FitResult([*self.updates[i], *self.extras[i]], int(self.weights[i])),
            )
            for i in indices
        ]


class ContributionTracker:
    """A :class:`rengo.hfl.RoundObserver` that values each client's updates.

    ``evaluate`` is the coordinator's validation score (higher is better; see
    :func:`validation_score`). ``method``: "gtg" (GTG-Shapley, the default, for many clients),
    "mr" (exact per-round Shapley, up to ~12 clients a round), "tmc" (truncated Monte Carlo
    per round), "loo" (leave-one-out per round), "or" (exact Shapley of whole-run
    reconstructions; keeps every round's updates). ``entity_of`` maps client ids to the
    legal entity (identity group) they belong to: members are merged into one player, the
    sybil mitigation of :mod:`rengo.rewards.sybil`. ``max_stored_values`` caps the parameter
    scalars held at once (clients x params per round; summed over rounds for "or").

    Parameters
    ----------
    evaluate:
        The validation score of a model (higher is better).
    method:
        One of :data:`METHODS`.
    seed:
        Fixes the sampled permutations ("gtg", "tmc").
    gtg, tmc_rule, tmc_truncation:
        Settings of the sampled methods.
    entity_of:
        Client id -> legal entity; members of one entity are valued as one player.
    max_stored_values:
        The most parameter scalars held at once; a round that would hold more raises
        :class:`ConfigError` naming the fix.
    merge_identical:
        Value clients whose round updates are identical, bit for bit, as one player (its
        members' results together, as the run aggregated them) and split its value equally
        among them, with a warning naming them (:attr:`identical`); default on. Valued
        apart, one participant joining twice with one update (or copying another's) is two
        symmetric players: on a 4-client round its pool share rose from 23.5 % to 32.0 %.
        A copy perturbed by any noise is not identical and is not caught: certified
        identities (``entity_of``) are the defence there. Not for method "or".
    score_name:
        What ``evaluate`` measures, for reports.
    outside_dp:
        Accept a run under central DP: the values are functions of each client's raw
        update, which the DP guarantee does not cover (such a run is refused without it).
    run_clients:
        The clients the run's rounds sample from. With ``entity_of``, a round's players are
        at most the distinct entities among them, and :meth:`check_round_clients` counts
        those (24 sites of 12 hospitals are 12 players, within method "mr"'s limit) rather
        than the sampled clients; a client outside them counts as its own player.

    Coalition models are rebuilt as the FedAvg of their updates (Song et al. 2019) or, under
    a strategy that aggregates otherwise, through the run's own aggregation replayed on the
    coalition (:meth:`on_coalition_aggregation`), so each round's values add up to the
    run's score change. Where a coalition is too small for the strategy's rule (Krum,
    Bulyan) its model is the round's starting model, as the run's would be. Method "or",
    and a strategy whose aggregation cannot be replayed (central DP), rebuild FedAvg; the
    run then warns that the values describe FedAvg's models
    (:class:`~rengo.hfl.observer_fit.ValuedAsFedAvgWarning`).

    Raises
    ------
    ConfigError
        Unknown method, ``max_stored_values < 1`` or ``tmc_truncation`` outside [0, 1).
    """

    values_each_update = True
    """It values each client's update (what :mod:`rengo.hfl.observer_fit` checks)."""

    @property
    def rebuilds_with_strategy(self) -> bool:
        """Whether coalition models are rebuilt through the run's replayed aggregation (the
        per-round methods; "or" rebuilds whole-run models as FedAvg), as
        :mod:`rengo.hfl.observer_fit` checks."""
        return self.method != "or"

    def __init__(
        self,
        evaluate: Evaluate,
        method: str = "gtg",
        *,
        seed: int = 0,
        gtg: GTGConfig | None = None,
        tmc_rule: StoppingCriterion | None = None,
        tmc_truncation: float = 0.05,
        entity_of: Mapping[str, str] | None = None,
        max_stored_values: int = DEFAULT_MAX_STORED_VALUES,
        score_name: str = "score",
        outside_dp: bool = False,
        merge_identical: bool = True,
        run_clients: Sequence[str] = (),
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown contribution method {method!r}; choose one of {METHODS}")
        if max_stored_values < 1:
            raise ConfigError(f"max_stored_values must be >= 1, got {max_stored_values}")
        check_truncation(tmc_truncation, "tmc_truncation")
        self.evaluate = evaluate
        self.method = method
        self.gtg = gtg or GTGConfig()
        self.tmc_rule = tmc_rule or default_stopping()
        self.tmc_truncation = tmc_truncation
        self.entity_of = dict(entity_of or {})
        self.run_clients = tuple(run_clients)
        """The clients the run's rounds sample from (empty: not known)."""
        self.max_stored_values = max_stored_values
        self.score_name = score_name
        self.outside_dp = bool(outside_dp)
        """Whether this run may publish values of raw updates beside central DP (a run with
        DP and per-client values is refused without it; :mod:`rengo.hfl.observer_fit`)."""
        self._rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0DE]))
        self._pending: dict[int, _PendingRound] = {}
        self._stored_values = 0
        self._kept: list[RoundUpdates] = []  # only for "or"
        self._rounds: list[RoundContribution] = []
        self._sum_only: dict[int, tuple[list[str], str, str]] = {}  # ids, reason, message
        self.fallbacks: list[str] = []
        """One message per round valued at group level (secure aggregation), in order."""
        self.merge_identical = bool(merge_identical) and method != "or"
        self.identical: list[str] = []
        """One message per set of identical updates valued as one player, in order."""
        self.caveats: list[str] = []
        """What the run's checks said the values mean (:meth:`note_caveat`)."""

    def check_round_clients(self, clients: int) -> None:
        """Refuse rounds of ``clients`` sampled clients, more than this method values (a
        run checks it before it starts and before its parties change mid-run:
        :mod:`rengo.hfl.round_clients_fit`; each round checks its own).

        Parameters
        ----------
        clients
            How many clients a round samples.

        Raises
        ------
        ConfigError
            If the method is "mr" (exact per round) and a round of ``clients`` clients can
            hold more than ``MAX_EXACT_ROUND_PLAYERS`` players (participants: with
            ``entity_of`` and ``run_clients``, an entity's clients are one).
        """
        if self.method != "mr":
            return
        players = self._most_players(clients)
        if players > MAX_EXACT_ROUND_PLAYERS:
            counted = (
                f"{players} participants ({clients} clients, entities counted once)"
                if players < clients
                else f"{players}"
            )
            who = "participants" if self.entity_of else "clients"
            raise ConfigError(
                f"contribution.method = 'mr' values at most {MAX_EXACT_ROUND_PLAYERS} {who} "
                f"a round exactly, and this run's rounds take up to {counted}; "
                "use method 'gtg', or sample fewer clients a round (strategy.fraction_fit)"
            )

    def _most_players(self, clients: int) -> int:
        """The most players a round of ``clients`` sampled clients can hold: one per
        entity among :attr:`run_clients`, plus any client beyond them as its own."""
        if not self.entity_of or not self.run_clients:
            return clients
        known = len(set(self.run_clients))
        distinct = len({self.entity_of.get(c, c) for c in set(self.run_clients)})
        return min(clients, distinct + max(0, clients - known))

    # -- RoundObserver ------------------------------------------------------------------------

    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: FitResult
    ) -> None:
        """Keep a validated client update (a copy) and its example count until round end."""
        pending = self._pending.get(server_round)
        if pending is None:
            pending = _PendingRound(copy_parameters(global_parameters))
            self._pending[server_round] = pending
            self._grow(num_values(global_parameters))
        # Strategies may append state to the result (SCAFFOLD's control variate): the model
        # part is the first len(global) arrays; the rest is kept for the replayed aggregation.
        update = copy_parameters(result.parameters[: len(global_parameters)])
        extra = copy_parameters(result.parameters[len(global_parameters) :])
        self._grow(num_values(update) + num_values(extra))
        pending.client_ids.append(client_id)
        pending.updates.append(update)
        pending.weights.append(float(result.num_examples))
        pending.extras.append(extra)

    def note_caveat(self, message: str) -> None:
        """Keep what :func:`rengo.hfl.observer_fit.check_observers_fit` warned about the
        values (they describe FedAvg's models, not the run's), for :meth:`report`'s notes."""
        if message not in self.caveats:
            self.caveats.append(message)

    def on_coalition_aggregation(self, server_round: int, replay: CoalitionAggregation) -> None:
        """Rebuild this round's coalition models through ``replay``, the run's own aggregation
        (the coordinator offers it under a strategy that aggregates otherwise than FedAvg),
        instead of as FedAvg; method "or" keeps FedAvg."""
        pending = self._pending.get(server_round)
        if pending is not None and self.rebuilds_with_strategy:
            pending.aggregation = replay

    def on_sum_only(
        self, server_round: int, global_parameters: Parameters, client_ids: list[str], reason: str
    ) -> None:
        """The round's updates were seen only as a sum (secure aggregation): fall back to
        group-level contribution for it, and say so.

        Per-client updates are not visible by design, so no per-client Shapley value can be
        computed. The round is valued as one coalition: the change in the validation score
        from the old to the new global model, shared equally by the participants (their
        group's value; ``stopped_by`` and :attr:`fallbacks` record the fallback).

        Raises
        ------
        ConfigError
            For method ``"or"``, which rebuilds models from every client's update.
        """
        if self.method == "or":
            raise ConfigError(
                f"round {server_round}: contribution method 'or' needs each client's update, "
                f"but {reason}; use a per-round method ({', '.join(SECAGG_METHODS)}), which "
                "falls back to group-level values under secure aggregation"
            )
        message = self._fall_back(server_round, reason, f"{len(client_ids)} clients")
        self._sum_only[server_round] = (sorted(client_ids), reason, message)

    def _fall_back(self, server_round: int, reason: str, who: str) -> str:
        """Say (warning, :attr:`fallbacks`) that a round is valued at group level, and why."""
        message = (
            f"round {server_round}: {reason}; contribution falls back to group level (the "
            f"round's score change shared equally by its {who})"
        )
        self.fallbacks.append(message)
        log.warning("%s", message)
        return message

    # -- resume (rengo.hfl.coordinator.StatefulObserver) ---------------------------------------

    def observer_state(self) -> dict[str, Any]:
        """The rounds valued so far, the group-level notes and the sampling generator's
        state, as codec values: a round checkpoint keeps them, so a resumed run values and
        pays every round, not only those after the resume. With method "or" it holds every
        update kept for the whole-run game too, so each checkpoint grows with the run (the
        rounds times clients times parameters that ``max_stored_values`` caps)."""
        return {
            "method": self.method,
            "rounds": [asdict(r) for r in self._rounds],
            "fallbacks": list(self.fallbacks),
            "identical": list(self.identical),
            "rng": json.dumps(self._rng.bit_generator.state),
            "kept": [
                {
                    "round": r.round,
                    "global_params": list(r.global_params),
                    "client_ids": list(r.client_ids),
                    "updates": [list(u) for u in r.updates],
                    "weights": list(r.weights),
                }
                for r in self._kept
            ],
        }

    def load_observer_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`observer_state`'s output (a resumed run's checkpoint).

        Raises
        ------
        ValueError
            If the state is of another method or not a tracker's state.
        """
        try:
            if state["method"] != self.method:
                raise ValueError(
                    f"the checkpointed run valued contributions by {state['method']!r}, this "
                    f"tracker by {self.method!r}"
                )
            rounds = [RoundContribution(**r) for r in state["rounds"]]
            kept = [
                RoundUpdates(
                    int(k["round"]),
                    list(k["global_params"]),
                    tuple(k["client_ids"]),
                    tuple(list(u) for u in k["updates"]),
                    tuple(float(w) for w in k["weights"]),
                )
                for k in state["kept"]
            ]
            fallbacks = [str(f) for f in state["fallbacks"]]
            identical = [str(f) for f in state.get("identical", [])]
            generator = np.random.default_rng()
            generator.bit_generator.state = json.loads(state["rng"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a contribution tracker's state: {exc!r}") from None
        self._rounds, self._kept, self.fallbacks, self._rng = rounds, kept, fallbacks, generator
        self.identical = identical
        self._stored_values = sum(
            num_values(k.global_params) + sum(num_values(u) for u in k.updates) for k in kept
        )

    def on_attempt_abandoned(self, server_round: int, reason: str) -> None:
        """Drop what an abandoned attempt at ``server_round`` showed (its updates were not
        aggregated): a round that runs again is valued on its final attempt only, so no
        client is counted twice or paid for an update that was thrown away."""
        sum_only = self._sum_only.pop(server_round, None)
        if sum_only is not None and sum_only[2] in self.fallbacks:
            self.fallbacks.remove(sum_only[2])  # the round is not valued at group level
        pending = self._pending.pop(server_round, None)
        if pending is not None:
            self._release(pending)
            log.info(
                "round %d: %s; the %d update(s) it showed are not valued",
                server_round,
                reason,
                len(pending.updates),
            )

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
    ) -> None:
        """Value the round's updates (per-round methods) and release them.

        A coalition whose model scores NaN or infinity (a diverged coalition) leaves the
        round without Shapley values: it falls back to group level, with a warning, as a
        round under secure aggregation does; training goes on.
        """
        if server_round in self._sum_only:
            ids, reason, _ = self._sum_only.pop(server_round)
            players = sorted(identity_groups(ids, self.entity_of))
            self._rounds.append(self._group_level(server_round, players, reason, old, new))
            return
        pending = self._pending.pop(server_round, None)
        if pending is None:
            return
        if self.merge_identical:
            self._merge_identical(server_round, pending)
        round_updates = self._grouped(server_round, pending)
        if self.method == "or":
            self._kept.append(round_updates)
            return
        self._release(pending)
        try:
            valued = self._value_round(round_updates, self._coalition_model(pending, new))
        except NonFiniteValueError as exc:
            players = sorted(round_updates.client_ids)
            reason = f"the model of coalition {list(exc.coalition)} scored {exc.value}"
            self._fall_back(server_round, reason, f"{len(players)} players")
            valued = self._group_level(server_round, players, reason, old, new)
        self._rounds.append(_split_copies(valued, pending.copies))

    def _group_level(
        self, server_round: int, players: list[str], reason: str, old: Parameters, new: Parameters
    ) -> RoundContribution:
        """The round's score change shared equally by ``players`` (0 each where the change
        is not finite, as an undefined gain earns and costs nobody anything)."""
        gain = float(self.evaluate(new) - self.evaluate(old))
        if not np.isfinite(gain):
            reason = f"{reason}; the round's score change is {gain}, counted as 0"
            gain = 0.0
        share = gain / len(players) if players else 0.0
        return RoundContribution(
            server_round,
            dict.fromkeys(players, share),
            2,
            stderr=dict.fromkeys(players, 0.0),
            dof=dict.fromkeys(players, float("inf")),
            stopped_by=f"{GROUP_LEVEL}: {reason}",
        )

    def __repr__(self) -> str:
        """One line a notebook can show: the method, what it scores and how many rounds it
        holds so far (:meth:`report` gives the values), where the default repr named only
        the object's address."""
        if self.method == "or":  # rounds are only kept; report() values them
            held = len(self._kept)
            rounds = f"{held} round{'' if held == 1 else 's'} kept (report() values them)"
        else:
            held = len(self._rounds)
            grouped = sum(r.stopped_by.startswith(GROUP_LEVEL) for r in self._rounds)
            rounds = f"{held} round{'' if held == 1 else 's'} valued"
            if grouped:  # no player was valued alone in these (as report() says)
                rounds = f"{held} round{'' if held == 1 else 's'}, group level in {grouped}"
        parts = [f"method={self.method!r}", f"score_name={self.score_name!r}", rounds]
        if self.entity_of:
            parts.append(f"entity_of: {len(self.entity_of)} clients")
        if self.outside_dp:
            parts.append("outside_dp=True")
        return f"ContributionTracker({', '.join(parts)})"

    # -- results ------------------------------------------------------------------------------

    @property
    def rounds(self) -> tuple[RoundContribution, ...]:
        """Per-round contributions computed so far (empty for "or" until :meth:`report`)."""
        return tuple(self._rounds)

    def report(self) -> ContributionReport:
        """The run's contribution so far: per-player totals over the rounds seen."""
        if self.method == "or":
            if not self._kept:
                raise DataError("no completed round to compute contributions from")
            result = or_shapley(self._kept, self.evaluate)
            values = {p: float(v) for p, v in zip(result.players, result.values, strict=True)}
            return ContributionReport(
                "or",
                values,
                (),
                result.evaluations,
                0,
                score_name=self.score_name,
                stderr=dict.fromkeys(values, 0.0),
                dof=dict.fromkeys(values, float("inf")),
                notes=(*self.caveats, *self.identical),
            )
        if not self._rounds:
            raise DataError("no completed round to compute contributions from")
        names = sorted({p for r in self._rounds for p in r.values})
        table = np.zeros((3, len(self._rounds), len(names)))
        table[2] = np.inf
        for t, r in enumerate(self._rounds):
            for k, p in enumerate(names):
                if p in r.values:
                    table[:, t, k] = (r.values[p], r.stderr.get(p, 0.0), r.dof.get(p, np.inf))
        totals, stderr, dof = combine_estimates(
            table[0], table[1], table[2], np.ones(len(self._rounds))
        )
        return ContributionReport(
            self.method,
            {p: float(v) for p, v in zip(names, totals, strict=True)},
            tuple(self._rounds),
            sum(r.evaluations for r in self._rounds),
            sum(r.permutations for r in self._rounds),
            score_name=self.score_name,
            stderr={p: float(v) for p, v in zip(names, stderr, strict=True)},
            dof={p: float(v) for p, v in zip(names, dof, strict=True)},
            notes=(*self.caveats, *self.identical, *_without_error(self._rounds)),
            approximation=self._approximation(),
        )

    def _approximation(self) -> dict[str, float]:
        """The truncation settings :attr:`method` samples with (empty for an exact one).

        Returns
        -------
        dict[str, float]
            GTG's ``within_round_eps``, ``between_round_eps`` and ``tail_probability``, or
            TMC's ``truncation`` and ``tail_probability``.
        """
        if self.method == "gtg":
            return {
                "within_round_eps": float(self.gtg.within_round_eps),
                "between_round_eps": float(self.gtg.between_round_eps),
                "tail_probability": float(self.gtg.tail_probability),
            }
        if self.method == "tmc":
            return {
                "truncation": float(self.tmc_truncation),
                "tail_probability": float(DEFAULT_TAIL_PROBABILITY),
            }
        return {}

    # -- pieces -------------------------------------------------------------------------------

    def _release(self, pending: _PendingRound) -> None:
        """Stop counting a pending round's stored values against ``max_stored_values``."""
        self._stored_values -= num_values(pending.global_params) + sum(
            num_values(u) + num_values(e)
            for u, e in zip(pending.updates, pending.extras, strict=True)
        )

    def _grow(self, values: int) -> None:
        self._stored_values += values
        if self._stored_values > self.max_stored_values:
            hint = (
                " method 'or' keeps every round; use a per-round method such as 'gtg'"
                if self.method == "or"
                else ""
            )
            raise ConfigError(
                f"contribution tracking would hold {self._stored_values:,} parameter values, "
                f"above max_stored_values={self.max_stored_values:,};{hint} or raise the cap"
            )

    def _merge_identical(self, server_round: int, pending: _PendingRound) -> None:
        """Note each set of unregistered clients with identical updates as one player."""
        full = [[*u, *e] for u, e in zip(pending.updates, pending.extras, strict=True)]
        taken = set(pending.client_ids) | set(self.entity_of.values())
        for ids in identical_updates(pending.client_ids, full):
            if any(cid in self.entity_of for cid in ids):
                continue  # registered identities are valued by their entity
            name = "+".join(ids)
            while name in taken:
                name = f"{name}+"
            taken.add(name)
            pending.copies[name] = ids
            message = (
                f"round {server_round}: clients {ids} sent identical updates; valued as one "
                "player, its value split equally among them"
            )
            self.identical.append(message)
            log.warning("%s", message)

    def _members(self, pending: _PendingRound) -> dict[str, list[int]]:
        """Each player (identity group, identical updates, or client) -> the positions of
        its clients' results."""
        position = {cid: i for i, cid in enumerate(pending.client_ids)}
        members = {
            entity: [position[cid] for cid in ids]
            for entity, ids in identity_groups(pending.client_ids, self.entity_of).items()
        }
        for name, ids in pending.copies.items():
            for cid in ids:
                del members[cid]
            members[name] = [position[cid] for cid in ids]
        return members

    def _coalition_model(self, pending: _PendingRound, new: Parameters) -> CoalitionModel | None:
        """A coalition's model through the round's replayed aggregation (None: FedAvg). Says
        so in the log if the whole round's replay is not the run's new model, bit for bit
        (a strategy keeping state outside its server state): the values then do not add up
        to the round's score change."""
        replay = pending.aggregation
        if replay is None:
            return None
        members = self._members(pending)
        every = [i for ids in members.values() for i in ids]
        rebuilt = replay(pending.results(sorted(every)))
        if len(rebuilt) != len(new) or not all(
            np.array_equal(a, b) for a, b in zip(rebuilt, new, strict=True)
        ):
            log.warning(
                "round %d: %s replayed on every result is not the round's new model; "
                "the round's values do not add up to its score change",
                replay.server_round,
                replay.strategy.name,
            )

        def model(players: frozenset[str]) -> Parameters:
            return replay(pending.results(sorted(i for p in players for i in members[p])))

        return model

    def _grouped(self, server_round: int, pending: _PendingRound) -> RoundUpdates:
        """The round's updates, merged per identity group (FedAvg of the members' updates,
        weighted by their example counts, with the members' total count)."""
        merged = RoundUpdates(
            server_round,
            pending.global_params,
            tuple(pending.client_ids),
            tuple(pending.updates),
            tuple(pending.weights),
        )
        if not self.entity_of and not pending.copies:
            return merged
        members = self._members(pending)
        names = tuple(sorted(members))
        updates = tuple(
            coalition_round_model(merged, frozenset(pending.client_ids[i] for i in members[e]))
            for e in names
        )
        weights = tuple(float(sum(pending.weights[i] for i in members[e])) for e in names)
        return RoundUpdates(server_round, pending.global_params, names, updates, weights)

    def _value_round(
        self, r: RoundUpdates, coalition_model: CoalitionModel | None = None
    ) -> RoundContribution:
        players = sorted(r.client_ids)
        n = len(players)
        # the round's players are counted (an entity's clients are one already): a run whose
        # parties changed mid-run may hold more than the start's check counted
        if self.method == "mr" and n > MAX_EXACT_ROUND_PLAYERS:
            who = "participants" if self.entity_of else "clients"
            raise ConfigError(
                f"round {r.round}: contribution.method = 'mr' values at most "
                f"{MAX_EXACT_ROUND_PLAYERS} {who} a round exactly, and this round has {n}; "
                "use method 'gtg', or sample fewer clients a round (strategy.fraction_fit)"
            )
        value = round_value_function(r, players, self.evaluate, coalition_model)
        result: ShapleyResult
        if self.method == "gtg":
            result = gtg_round_shapley(value, n, self._rng, self.gtg)
        elif self.method == "mr":
            result = exact_shapley(value, n)
        elif self.method == "tmc":
            result = tmc_shapley(
                value, n, self._rng, truncation=self.tmc_truncation, rule=self.tmc_rule
            )
        else:
            result = leave_one_out(value, n)
        truncated = self.method == "gtg" and result.stopped_by.startswith("between-round")
        return RoundContribution(
            r.round,
            {p: float(v) for p, v in zip(players, result.values, strict=True)},
            result.evaluations,
            result.permutations,
            truncated,
            {p: float(v) for p, v in zip(players, result.stderr, strict=True)},
            {p: float(v) for p, v in zip(players, result.dof, strict=True)},
            result.stopped_by,
        )


NOTE_NAMES = 10
"""How many participants a note names before it counts the rest."""


def _without_error(rounds: Sequence[RoundContribution]) -> tuple[str, ...]:
    """A note naming the rounds whose values have no standard error, and whose: sampling
    stopped, on its budget, before a second sample, or a player's samples agreed (no
    spread is not no error), as the run store keeps such an error as unknown and ``rengo
    rewards show`` prints those values without one."""
    unknown = {
        r.round: sorted(p for p, e in r.stderr.items() if np.isinf(e))
        for r in rounds
        if any(np.isinf(e) for e in r.stderr.values())
    }
    if not unknown:
        return ()
    who = sorted({p for names in unknown.values() for p in names})
    named = ", ".join(who[:NOTE_NAMES]) + (
        f" and {len(who) - NOTE_NAMES} more" if len(who) > NOTE_NAMES else ""
    )
    return (
        f"rounds {list(unknown)} have sampled values without a standard error (of {named}): "
        "their samples agreed exactly (a score of few steps, such as accuracy on a small "
        "test set, over few samples) or sampling stopped before a second sample; the "
        "error of those values, and of those participants' totals, is unknown, not 0 "
        "(method mr, or tmc, which samples until the errors are small, gives errors)",
    )


def _split_copies(valued: RoundContribution, copies: Mapping[str, list[str]]) -> RoundContribution:
    """``valued`` with each merged player of identical updates replaced by its clients, each
    holding an equal share of its value (and of its standard error)."""
    if not copies:
        return valued
    values, stderr, dof = dict(valued.values), dict(valued.stderr), dict(valued.dof)
    for name, ids in copies.items():
        if name not in values:
            continue
        share, error = values.pop(name) / len(ids), stderr.pop(name, 0.0) / len(ids)
        freedom = dof.pop(name, float("inf"))
        for cid in ids:
            values[cid], stderr[cid], dof[cid] = share, error, freedom
    return replace(valued, values=values, stderr=stderr, dof=dof)
