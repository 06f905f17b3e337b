"""The horizontal FL round loop: broadcast, gather, fold, evaluate, checkpoint.

The coordinator reaches clients only through a transport :class:`ClientPool` (simulation
executors, gRPC hub, Ray) with codec bytes, so one loop serves simulation and deployment.
The fit stage is a round workflow (:mod:`rengo.hfl.workflow`); by default each result is
validated (type, count, shapes, finite values, the claims :class:`~rengo.hfl.ResultChecks`
bounds) and folded into a streaming accumulator as it arrives, and a client that fails is
dropped from that round with its reason logged. A round succeeds if at least
``min_fit_clients`` results were folded and the new model is finite - checked before it
replaces the old one or is checkpointed, and a non-finite one is blamed on the result that
could move it most. Every completed round is recorded and checkpointed before the next one
starts. With ``slow_after`` a client that misses the round timeout that many rounds in a row
sits out the next ``slow_rounds`` rounds, so the others stop waiting for it every round. A
client the workflow caught breaking its protocol (:attr:`FitRound.excluded`, e.g. secure
aggregation shares that do not rebuild the committed secret) is left out of every later round
of the run (:attr:`Coordinator.excluded`).
"""

from __future__ import annotations

import copy
import functools
import logging
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from rengo.core.client_record import ClientRecord
from rengo.core.codec import decode, decode_owned, encode
from rengo.core.errors import CodecError, ConfigError, DataError, RoundFailure, StopTraining
from rengo.core.messages import (
    Config,
    EvaluateIns,
    EvaluateResult,
    FitIns,
    FitResult,
    Metrics,
)
from rengo.core.parameters import Parameters, copy_parameters, num_values
from rengo.core.skipped_round import ROUND_SKIPPED, check_short_round_settings
from rengo.hfl.checkpoints import CheckpointRetention
from rengo.hfl.client import EVALUATE, client_seed
from rengo.hfl.coalition_aggregation import CoalitionAggregation, offers_coalition_aggregation
from rengo.hfl.evaluation_checks import screen_evaluations
from rengo.hfl.failure_log import ClientFailureLog, failures_summary, is_simulated_loss
from rengo.hfl.mods.chain import (
    COORDINATOR_SEED_KEY,
    EVALUATION_FIT_KEY,
    MODS_KEY,
    mods_config_value,
)
from rengo.hfl.privacy_fit import (
    check_checkpoint_interval,
    checks_under_dp,
    releases_short_rounds,
)
from rengo.hfl.result_checks import ResultChecks, screen_metrics
from rengo.hfl.strategy.aggregate_call import aggregate_with_rng, warn_if_old_aggregate_fit
from rengo.hfl.strategy.base import Aggregate, Strategy, WeightedSum
from rengo.hfl.strategy.dp import DP_ROUNDS_ACCOUNTED
from rengo.hfl.unkept_state import snapshot_attributes, warn_unkept_attributes
from rengo.hfl.workflow import (
    FitRound,
    FitWorkflow,
    ShortRound,
    SingleExchange,
    applicable_checks,
    sees_each_update,
    tell_party,
)
from rengo.privacy.budget import is_spent_budget
from rengo.privacy.epsilon_text import is_epsilon_metric, metric_text
from rengo.privacy.release_note import ReleasedSpend, release_intent, release_note
from rengo.transport.pool import ClientPool, EncodeOnDemand, KeepsClientStates

CHECKPOINT_FORMAT = 2
"""Version of :meth:`Coordinator.checkpoint_blob`'s layout (1: before it carried one)."""
_AGGREGATION_STREAM = 0xA66
SKIP_LISTED = 20
"""Sampled clients a skipped round's warning names one by one (its client records hold all)."""

log = logging.getLogger("rengo.hfl")


class LoggedEvent(Protocol):
    """A recorded event as the round loop reads it back (a run's early stop, not to be
    recorded twice by its resumed run)."""

    @property
    def message(self) -> str:
        """The event's text."""
        ...

    @property
    def round(self) -> int | None:
        """The round it belongs to, if any."""
        ...


class RunRecorder(Protocol):
    """What the round loop records (implemented by :class:`rengo.tracking.RunStore`)."""

    def log_round(
        self,
        run_id: str,
        round: int,
        metrics: dict[str, float],
        duration_s: float,
        num_clients: int,
        num_failures: int,
    ) -> None:
        """Record one completed round."""
        ...

    def log_clients(self, run_id: str, records: Sequence[ClientRecord]) -> None:
        """Record clients' fit or evaluate outcomes in a round, in one write."""
        ...

    def log_event(self, run_id: str, level: str, message: str, round: int | None = None) -> None:
        """Record a notice (a round that failed, a client dropped). A recorder may also have
        ``log_written_ahead(run_id, round, message)`` (:class:`rengo.tracking.RunStore` has):
        the coordinator then writes a central-DP round's spend there, synced, before its
        model leaves for federated evaluation."""
        ...

    def events(self, run_id: str, level: str | None = None) -> Sequence[LoggedEvent]:
        """The run's events in the order logged, optionally of one level."""
        ...

    def save_checkpoint(self, run_id: str, round: int, blob: bytes) -> None:
        """Store a round's checkpoint bytes."""
        ...

    def checkpoint_rounds(self, run_id: str) -> list[int]:
        """Rounds that have a stored checkpoint, ascending."""
        ...

    def delete_checkpoints(self, run_id: str, rounds: Sequence[int]) -> None:
        """Delete the checkpoints of ``rounds``."""
        ...


class RoundObserver(Protocol):
    """Sees every fit result the coordinator sees in the clear, and every completed round
    (contribution accounting). Three more hooks are optional: ``on_sum_only`` (the round's
    results arrive only as a sum, :meth:`rengo.hfl.workflow.FitRound.sum_only`),
    ``on_attempt_abandoned`` (:class:`AbandonedAttemptObserver`) and
    ``on_coalition_aggregation(server_round, replay)``: after the round's results are in
    and before they are aggregated, a
    :class:`~rengo.hfl.coalition_aggregation.CoalitionAggregation` that rebuilds the model
    the strategy makes from any subset of them (only where the strategy aggregates
    otherwise than FedAvg and can be replayed). Two more let an observer steer the run
    (:class:`~rengo.hfl.EarlyStopping` has both): ``stop_reason()``, asked after each round
    is recorded and checkpointed, ends the run there when it returns a reason, and
    ``pinned_rounds()`` names round checkpoints the retention must not delete. One that
    has ``run_summary()`` is asked as a run ends, simulated or deployed, for entries to
    record in the run's summary (:func:`observers_run_summary`;
    :class:`rengo.jobs.central_record.CentralEvaluationRecord`: the test rows and the
    reliability table)."""

    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: FitResult
    ) -> None:
        """A client's validated result, as it arrives."""
        ...

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
    ) -> None:
        """The round's old and new global model and its metrics."""
        ...


def observers_run_summary(observers: Sequence[object]) -> dict[str, Any]:
    """What the observers that have ``run_summary()`` add to a run's summary as it ends
    (later observers' entries win).

    Parameters
    ----------
    observers
        The run's observers.

    Returns
    -------
    dict
        The entries to record.
    """
    summary: dict[str, Any] = {}
    for observer in observers:
        entries = getattr(observer, "run_summary", None)
        if callable(entries):
            summary.update(entries())
    return summary


class StatefulObserver(Protocol):
    """An observer whose state must survive a resume (a contribution tracker's values of the
    rounds so far): the coordinator keeps ``observer_state()`` in every round checkpoint,
    taken after the round's end, and hands it to ``load_observer_state`` when a run resumes
    from that checkpoint. Both hooks are optional, as ``on_attempt_abandoned`` is; the state
    is codec values (no pickle)."""

    def observer_state(self) -> dict[str, Any]:
        """What a resumed run needs of this observer, as codec values."""
        ...

    def load_observer_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`observer_state`'s output."""
        ...


class AbandonedAttemptObserver(Protocol):
    """An observer that also wants to hear when the results it saw for a round will never
    be aggregated: the attempt failed, or the round runs again without some clients (their
    local privacy budget is spent). The coordinator calls ``on_attempt_abandoned`` when an
    observer has it (it is optional, as ``on_sum_only`` is); a contribution tracker drops
    the attempt's updates so that no client is valued twice or for an update not used."""

    def on_attempt_abandoned(self, server_round: int, reason: str) -> None:
        """Forget what this round's abandoned attempt showed (a retry may follow)."""
        ...


class _ClientRecords:
    """One round attempt's client outcomes in one phase, held until they are written
    together (one store transaction a round, not one a client). Fit outcomes wait until the
    coordinator knows whether the attempt counts: all are written then, or - for an attempt
    that runs again - only those that still stand (the spent clients' declines, the
    workflow's exclusions). ``sink(records)`` writes them (:meth:`Coordinator._log_clients`)."""

    def __init__(
        self, server_round: int, phase: str, sink: Callable[[list[ClientRecord]], None]
    ) -> None:
        self._server_round = server_round
        self._phase = phase
        self._sink = sink
        self._held: list[ClientRecord] = []

    def add(
        self,
        client_id: str,
        status: str,
        num_examples: int,
        traffic: tuple[int, int, float],
        reason: str | None,
        metrics: Metrics | None,
    ) -> None:
        sent, received, seconds = traffic
        self._held.append(
            ClientRecord(
                self._server_round,
                client_id,
                self._phase,
                status,
                num_examples,
                sent,
                received,
                seconds,
                reason,
                None if metrics is None else dict(metrics),
            )
        )

    def flush(self, only: Collection[str] | None = None) -> None:
        """Write the held outcomes (of ``only`` these clients, if given) and forget all."""
        held, self._held = self._held, []
        kept = [r for r in held if only is None or r.client_id in only]
        if kept:
            self._sink(kept)


HISTORY_REPR_METRICS = 6
"""How many of the last round's metrics a :class:`History`'s repr names (alphabetically)."""


EVALUATE_FAILURE = "evaluate: "
"""How the reason of a client that failed a round's evaluation (not its training) starts in
:attr:`RoundRecord.failures`."""


@dataclass
class RoundRecord:
    """What happened in one round.

    Attributes
    ----------
    server_round
        The round's number (1-based).
    clients
        The clients sent fit instructions this round (those that failed to train are in
        ``failures``).
    failures
        Client -> why it failed this round (an error, a timeout, a refused update): in its
        training, or in the round's evaluation (the reason then starts ``evaluate:``), so it
        may name clients not in ``clients``, and the run store's ``num_failures`` counts
        both (``rengo runs show`` shows them apart, and ``--round K`` lists each one).
    metrics
        Metric name -> value: training, centralised and federated evaluation metrics.
    duration_s
        The round's wall time in seconds.
    skipped
        Why the round was skipped (``on_short_round="skip"``: too few of ``clients``
        reported, or too few were available; ``failures`` says who dropped and why), or None
        for a round that ran. A skipped round kept the model of the round before; its
        ``metrics`` hold only :data:`~rengo.core.skipped_round.ROUND_SKIPPED` = 1.
    """

    server_round: int
    clients: list[str]
    failures: dict[str, str]
    metrics: dict[str, float]
    duration_s: float
    skipped: str | None = None

    @property
    def fit_failures(self) -> dict[str, str]:
        """The clients of :attr:`clients` that failed to train, and why: the one rule for
        "N of M clients reported" (the round's log line, the progress bar). A client that
        failed only the evaluation is left out (its reason starts ``evaluate:``, the
        coordinator's own mark), so the count never goes below zero."""
        fit = set(self.clients)
        return {
            c: why
            for c, why in self.failures.items()
            if c in fit and not why.startswith(EVALUATE_FAILURE)
        }

    @property
    def evaluation_failures(self) -> dict[str, str]:
        """The clients that trained (or were not sampled to train) but failed the round's
        evaluation, and why (the reason without its ``evaluate:`` mark); a client that
        failed both is among :attr:`fit_failures` only."""
        n = len(EVALUATE_FAILURE)
        return {c: why[n:] for c, why in self.failures.items() if why.startswith(EVALUATE_FAILURE)}


@dataclass(repr=False)
class History:
    """Everything a run produced: per-round records, the final model, the run id, and why it
    stopped early (``stopped``: a strategy's :class:`~rengo.core.errors.StopTraining`, such as
    a spent privacy budget; None when every round ran).

    Attributes
    ----------
    rounds
        One :class:`RoundRecord` per round that ran, in order.
    parameters
        The final global model.
    run_id
        The run's id in the run store, or None when it was not recorded.
    stopped
        Why the run stopped before its last round, or None.
    earlier_rounds
        Rounds that ran here before those in ``rounds`` and are kept only in the run store
        (a long deployed run holds its latest rounds in memory, see
        :meth:`Coordinator.run`'s ``keep_rounds``); 0 when ``rounds`` holds every one.
    """

    rounds: list[RoundRecord] = field(default_factory=list)
    parameters: Parameters = field(default_factory=list)
    run_id: str | None = None
    stopped: str | None = None
    earlier_rounds: int = 0

    def keep_latest(self, count: int) -> None:
        """Hold only the latest ``count`` rounds in :attr:`rounds`; the older ones are
        counted in :attr:`earlier_rounds`."""
        extra = len(self.rounds) - count
        if extra > 0:
            del self.rounds[:extra]
            self.earlier_rounds += extra

    def metric(self, name: str) -> list[tuple[int, float]]:
        """``(round, value)`` pairs of one metric, in round order."""
        return [(r.server_round, r.metrics[name]) for r in self.rounds if name in r.metrics]

    def last(self, name: str) -> float:
        """The last value of metric ``name``."""
        values = self.metric(name)
        if not values:
            raise KeyError(f"no metric {name!r}; have {sorted(self.metric_names())}")
        return values[-1][1]

    def metric_names(self) -> set[str]:
        """Every metric name recorded in some round."""
        return {k for r in self.rounds for k in r.metrics}

    def __repr__(self) -> str:
        """One line a notebook can show: the rounds, the last round's metrics and the model's
        size, not every round's client list and every weight (``rounds`` and ``parameters``
        hold those)."""
        if not self.rounds:
            return f"History(no rounds, run_id={self.run_id!r})"
        last = self.rounds[-1]
        held = f"rounds={len(self.rounds)} ({self.rounds[0].server_round}-{last.server_round})"
        if self.earlier_rounds:
            held += f" after {self.earlier_rounds} earlier rounds kept in the run store"
        # a skipped round has no metric but its mark: show those of the last round that ran
        ran = [r for r in self.rounds if r.skipped is None]
        shown_round = ran[-1] if ran else None
        title = "last round"
        if last.skipped is not None:
            after = shown_round.server_round if shown_round is not None else 0
            skipped = sum(1 for r in self.rounds if r.server_round > after)
            title = (
                f"last round run {shown_round.server_round} ({skipped} skipped after it)"
                if shown_round is not None
                else f"every round held skipped ({skipped})"
            )
        held_metrics = shown_round.metrics if shown_round is not None else {}
        shown = sorted(held_metrics.items())[:HISTORY_REPR_METRICS]
        metrics = ", ".join(f"{k}={_shown_metric(k, v)}" for k, v in shown)
        if len(held_metrics) > len(shown):
            metrics += f", ... ({len(held_metrics)} metrics)"
        parts = [
            held,
            f"{title}: {metrics}" if metrics else f"{title}: no metrics",
            f"parameters={len(self.parameters)} arrays of {num_values(self.parameters)} values",
            f"run_id={self.run_id!r}",
        ]
        if self.stopped is not None:
            parts.append(f"stopped={self.stopped!r}")
        return f"History({'; '.join(parts)})"


def _shown_metric(name: str, value: object) -> str:
    """A metric as a repr names it: a number to 4 significant digits (an epsilon rounded up,
    :func:`~rengo.privacy.epsilon_text.metric_text`), other values (a strategy may record
    text) as their repr, cut to 20 characters."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return metric_text(name, float(value)) if is_epsilon_metric(name) else f"{value:.4g}"
    shown = repr(value)
    return shown if len(shown) <= 20 else shown[:19] + "…"


ProgressFn = Callable[[RoundRecord], None]
RoundStartFn = Callable[[int], None]

HEADLINE_METRICS = (
    "train_loss",
    "central_accuracy",
    "eval_accuracy",
    "central_rmse",
    "central_r2",
    "eval_rmse",
    "eval_r2",
)
"""The metrics a round's one-line summary shows, when the round has them (a classifier's
accuracy, a regression's RMSE and R^2)."""


def round_summary(record: RoundRecord, rounds: int, clients: str = "clients") -> str:
    """One line about a completed round, as a log shows it: ``round 3/20: 9 of 10 clients
    reported in 0.21s, train_loss 0.4012, central_accuracy 0.8123; dropped client-4``
    (``clients``: what the participants are called, e.g. ``"parties"`` deployed)."""
    fit_failed, eval_failed = record.fit_failures, record.evaluation_failures
    reported = len(record.clients) - len(fit_failed)
    if record.skipped is not None:
        kept = "initial model" if record.server_round == 1 else "model before"
        return (
            f"round {record.server_round}/{rounds}: skipped, {reported} of "
            f"{len(record.clients)} {clients} reported (the {kept} kept): {record.skipped}"
        )
    shown = [
        f"{key} {record.metrics[key]:.4f}" for key in HEADLINE_METRICS if key in record.metrics
    ]
    dropped = f"; dropped {', '.join(sorted(fit_failed))}" if fit_failed else ""
    if eval_failed:
        dropped += f"; failed evaluation {', '.join(sorted(eval_failed))}"
    return (
        f"round {record.server_round}/{rounds}: {reported} of {len(record.clients)} {clients} "
        f"reported in {record.duration_s:.2f}s"
        + (f", {', '.join(shown)}" if shown else "")
        + dropped
    )


def _dp_spend(server_round: int, metrics: Mapping[str, float]) -> ReleasedSpend | None:
    """The privacy spent up to ``server_round``, from a central-DP round's metrics
    (``dp_epsilon``, ``dp_delta``, ``dp_rounds_accounted``); None for a round without DP."""
    epsilon, delta = metrics.get("dp_epsilon"), metrics.get("dp_delta")
    accounted = metrics.get(DP_ROUNDS_ACCOUNTED)
    if epsilon is None or delta is None or accounted is None:
        return None
    return ReleasedSpend(server_round, float(epsilon), float(delta), int(accounted))


class RoundShortOfClients(RoundFailure):
    """A round failed because too few clients were available or reported (nothing of it
    was aggregated); ``failures`` maps each client that failed it to its reason (empty when
    too few were available to start it)."""

    def __init__(self, message: str, failures: Mapping[str, str]) -> None:
        super().__init__(message)
        self.failures = dict(failures)

    def __reduce__(self) -> tuple[type[RoundShortOfClients], tuple[str, dict[str, str]]]:
        """Pickled and copied with its failures (an exception's default keeps only args)."""
        return (RoundShortOfClients, (str(self), self.failures))


RetryRoundFn = Callable[[int, RoundShortOfClients], bool]
"""Called when round ``n`` fell short: True to run it again (a deployment whose parties
lost their link and came back), False to let the failure end the run."""


@dataclass
class Coordinator:
    """Runs ``rounds`` rounds of ``strategy`` over the clients of ``pool``.

    Parameters
    ----------
    strategy
        Samples clients and aggregates their results; its server state is initialised from
        ``parameters`` when ``start_round`` is 1.
    pool
        The clients, whatever transport carries them.
    parameters
        The initial global model (copied).
    seed
        The run seed: client sampling, per-client seeds and the aggregation generator derive
        from it, so a run is reproducible on every executor.
    round_timeout
        Seconds a client may take per exchange before it is dropped from the round.
    store, run_id
        Where rounds, client outcomes, events and checkpoints are recorded (both or neither).
    observers
        See every fit result in the clear and every completed round.
    checkpoint_every
        Checkpoint every N rounds (0: never; under central DP 0 or 1, else refused with a
        ConfigError: a resume would re-run released rounds that the accountant then counts
        once).
    checkpoints
        Which checkpoints stay in the store (default: the latest only, what resume needs).
    start_round
        The first round to run (after :meth:`restore`, the round after the checkpoint's).
    workflow
        The fit stage; :class:`~rengo.hfl.workflow.SingleExchange` by default.
    checks
        The coordinator's checks of every fit result (default
        :meth:`ResultChecks.streaming`: absolute bounds, aggregation stays streaming).
        Under a workflow that releases only the sum (secure aggregation) their per-update
        median rules cannot run: they are dropped with a FutureWarning (a ``ConfigError``
        from rengo 0.3).
    slow_after
        A client that misses the round timeout this many rounds in a row is marked slow
        (0: never).
    slow_rounds
        Rounds a slow client sits out before it is sampled again (one more miss then marks
        it slow again at once).
    on_short_round
        What a round short of clients (:class:`RoundShortOfClients`: fewer than
        ``min_fit_clients`` reported, fewer than ``min_available_clients`` were available,
        or secure aggregation lost too many before unmasking) does once ``retry_round``
        declined: ``"fail"`` (the default) ends the run with it; ``"skip"`` keeps the model
        of the round before and the strategy's state before the round (nothing of it was
        aggregated: a DP accountant composes nothing for it), records the round as skipped
        (:attr:`RoundRecord.skipped`, a warning event, the metric ``round_skipped`` = 1),
        checkpoints it and goes on. Observers never see a skipped round's end (early
        stopping does not count it), and clients keep what they did (their own state).
        Under central DP (:class:`~rengo.hfl.DifferentialPrivacy`) no round is skipped, as
        the skip would show an un-noised count of replies: a round short of replies
        releases the noised sum of those that replied and is accounted, and a shortfall
        with nothing to release (too few available, secure aggregation short before
        unmasking) ends the run.
    max_skipped_rounds
        Under ``"skip"``, the most rounds in a row a run may skip: one more short round
        then fails the run (:class:`RoundShortOfClients`), so a federation that cannot fill
        a round does not spin through its rounds unnoticed. 0 makes ``"skip"`` ``"fail"``.
    """

    strategy: Strategy
    pool: ClientPool
    parameters: Parameters
    seed: int = 0
    round_timeout: float | None = None
    store: RunRecorder | None = None
    run_id: str | None = None
    observers: Sequence[RoundObserver] = ()
    checkpoint_every: int = 1
    checkpoints: CheckpointRetention = field(default_factory=CheckpointRetention)
    start_round: int = 1
    workflow: FitWorkflow | None = None
    checks: ResultChecks | None = None
    slow_after: int = 0
    slow_rounds: int = 5
    on_short_round: str = "fail"
    max_skipped_rounds: int = 10
    _rng: np.random.Generator = field(init=False, repr=False)
    _misses: dict[str, int] = field(init=False, repr=False, default_factory=dict)
    _missed_round: dict[str, int] = field(init=False, repr=False, default_factory=dict)
    _slow_until: dict[str, int] = field(init=False, repr=False, default_factory=dict)
    _excluded: dict[str, str] = field(init=False, repr=False, default_factory=dict)
    _budgets_ran_out: bool = field(init=False, repr=False, default=False)
    _restored_client_states: bool = field(init=False, repr=False, default=False)
    _failure_log: ClientFailureLog = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parameters = copy_parameters(self.parameters)
        self._failure_log = ClientFailureLog(self._record_first_failure)
        self._shortfall_may_retry = False  # a round's retry hook decides whether it failed
        check_short_round_settings(self.on_short_round, self.max_skipped_rounds)
        self._skipped_in_row = 0  # rounds skipped since the last one that ran
        self._short_ended: list[RoundObserver] = []  # given the end of a short attempt
        # the strategy's state before this attempt's configure_fit (None: not taken yet): the
        # one snapshot a round takes, restored when a short round is skipped or run again
        self._state_before: dict[str, Any] | None = None
        # under central DP a round short of replies is released, noised and accounted
        self._release_short = self.on_short_round == "skip" and releases_short_rounds(self.strategy)
        self._sampled: list[str] = []  # the clients sent fit instructions this attempt
        self._unkept_warned: set[tuple[int, str]] = set()  # strategy attributes warned about
        self._rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5EED]))
        if self.workflow is None:
            self.workflow = SingleExchange()
        if self.checks is not None:
            self.checks = applicable_checks(self.workflow, self.checks)
            self.checks = checks_under_dp(self.strategy, self.checks)
        warn_if_old_aggregate_fit(self.strategy)
        check_checkpoint_interval(self.strategy, self.checkpoint_every)
        if self.start_round == 1:
            self.strategy.initialize(self.parameters)

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        rounds: int,
        progress: ProgressFn | None = None,
        before_round: RoundStartFn | None = None,
        retry_round: RetryRoundFn | None = None,
        keep_rounds: int | None = None,
    ) -> History:
        """Run rounds ``start_round .. rounds``.

        Parameters
        ----------
        rounds
            The last round to run.
        progress
            Called with each completed round's record.
        before_round
            Called with each round's number before it starts (a deployment waits for
            dropped parties there).
        retry_round
            Called when a round fails short of clients (:class:`RoundShortOfClients`):
            True runs the round again from the strategy's state before it (a deployment
            whose parties lost their link and came back); default (or False): the failure
            ends the run, or under ``on_short_round="skip"`` the round is skipped.
        keep_rounds
            Hold at most this many of the latest rounds in the returned history (the run
            store keeps every one; :attr:`History.earlier_rounds` counts the others), so a
            run of weeks does not hold every round in memory; None: hold every round.

        Returns
        -------
        History
            The rounds run here (the latest ``keep_rounds`` of them) and the final model.

        Raises
        ------
        ConfigError
            If ``keep_rounds`` is below 1, or given without a run store to keep the rounds.
        RoundFailure
            If a round fails (under ``on_short_round="skip"``: a failure other than a
            shortfall, or one shortfall more than ``max_skipped_rounds`` in a row); every
            completed or skipped round before it is already recorded and checkpointed.

        A strategy that raises :class:`~rengo.core.errors.StopTraining` before a round (a spent
        privacy budget) ends the run there: the reason is logged, recorded as an event and
        kept in :attr:`History.stopped`, and the rounds before it stand. ``progress`` may
        raise it too, and an observer's ``stop_reason()`` may give one
        (:class:`~rengo.hfl.EarlyStopping`): the run ends the same way after that round,
        which stands.
        """
        if keep_rounds is not None and (keep_rounds < 1 or self.store is None or not self.run_id):
            raise ConfigError(
                f"keep_rounds={keep_rounds}: hold at least 1 round in memory, and only with a "
                "run store that keeps every round"
            )
        history = History(run_id=self.run_id, parameters=self.parameters)
        ended = self.already_stopped()
        if ended is not None and self.start_round <= rounds:
            self._stop(
                history, StopTraining(ended), self.start_round - 1, "no round run", once=True
            )
            return history
        for server_round in range(self.start_round, rounds + 1):
            if before_round is not None:
                before_round(server_round)
            try:
                record = self._run_round_retrying(server_round, retry_round)
            except StopTraining as exc:
                self._stop(history, exc, server_round, f"round {server_round} not run")
                break
            history.rounds.append(record)
            if keep_rounds is not None:
                history.keep_latest(keep_rounds)
            history.parameters = self.parameters
            if progress is not None:
                try:
                    progress(record)
                except StopTraining as exc:
                    self._stop(history, exc, server_round, f"stopped after round {server_round}")
                    break
            reason = self._observers_stop_reason() if server_round < rounds else None
            if reason is not None:
                what = f"stopped after round {server_round}"
                self._stop(history, StopTraining(reason), server_round, what)
                break
        history.parameters = self.parameters
        return history

    def already_stopped(self) -> str | None:
        """Why a resumed run had already ended before :attr:`start_round`: an observer's
        stop reason in the state restored from its checkpoint (early stopping decided after
        the round it resumes from, and the run was cut off before it was recorded
        completed), or None; always None for a run starting at round 1. :meth:`run` then
        runs no round, and a deployment need not wait for its parties."""
        return self._observers_stop_reason() if self.start_round > 1 else None

    def _observers_stop_reason(self) -> str | None:
        """The first reason an observer that can end a run (``stop_reason``: early
        stopping, :class:`~rengo.hfl.EarlyStopping`) gives to end it after the round just
        recorded, or None."""
        for observer in self.observers:
            ask = getattr(observer, "stop_reason", None)
            reason = ask() if callable(ask) else None
            if reason is not None:
                return str(reason)
        return None

    def _pinned_rounds(self) -> set[int]:
        """The rounds whose checkpoints observers need kept (``pinned_rounds``: early
        stopping's best round), whatever the retention prunes."""
        pinned: set[int] = set()
        for observer in self.observers:
            ask = getattr(observer, "pinned_rounds", None)
            if callable(ask):
                pinned.update(int(r) for r in ask())
        return pinned

    def _stop(
        self, history: History, exc: StopTraining, server_round: int, what: str, once: bool = False
    ) -> None:
        """End the run early and cleanly: the reason kept in ``history``, logged and recorded
        as an event of ``server_round`` (with ``once``, unless the run recorded it already:
        a resumed run that had stopped before it was cut off)."""
        history.stopped = str(exc)
        log.warning("%s: %s", what, exc)
        if self.store is None or self.run_id is None:
            return
        if once and any(
            e.message == str(exc) and e.round == server_round
            for e in self.store.events(self.run_id, "warning")
        ):
            return
        self.store.log_event(self.run_id, "warning", str(exc), server_round)

    def _run_round_retrying(self, server_round: int, retry: RetryRoundFn | None) -> RoundRecord:
        """:meth:`run_round`, run again from the strategy's state before it while ``retry``
        says so after it fell short of clients. A shortfall is logged and recorded as the
        round's failure only once ``retry`` declined: a round that runs again did not fail.
        Under ``on_short_round="skip"`` a shortfall ``retry`` declined skips the round
        (:meth:`_skip`) instead of failing it."""
        skip = self.on_short_round == "skip"
        while True:
            start = time.perf_counter()
            self._shortfall_may_retry = retry is not None or skip
            self._state_before = None
            try:
                record = self.run_round(server_round)
            except RoundShortOfClients as exc:
                ended, self._short_ended = self._short_ended, []
                if retry is not None and retry(server_round, exc):
                    if skip:
                        self._abandon_attempt(server_round, "the round is run again", ended)
                    self._restore_state_before()
                    continue
                if not skip:
                    if retry is not None:
                        self._announce_failure(server_round, str(exc))
                    raise
                self._restore_state_before()  # nothing of the round was aggregated
                skips = not self._release_short and self._skipped_in_row < self.max_skipped_rounds
                reason = "the round was skipped, short of clients" if skips else "the round failed"
                self._abandon_attempt(server_round, reason, ended)
                return self._skip(server_round, exc, time.perf_counter() - start)
            finally:
                self._shortfall_may_retry = False
            self._skipped_in_row = 0
            return record

    def _restore_state_before(self) -> None:
        """Give the strategy back its state from before the round's last attempt (the
        snapshot :meth:`_attempt` took for it). A round that fell short before taking one
        (too few clients available) had not touched the strategy: nothing to restore."""
        if self._state_before is not None:
            self.strategy.load_state_dict(self._state_before)

    def _skip(self, server_round: int, short: RoundShortOfClients, duration: float) -> RoundRecord:
        """Skip ``server_round``, which fell ``short`` of clients: the model and the
        strategy's state stay those of the round before, the round is recorded as skipped
        (who was sampled, who dropped and why, what it needed: a warning event and the round
        record with :data:`ROUND_SKIPPED` = 1) and checkpointed with the count of rounds
        skipped in a row, so a resumed run skips and fails where an uninterrupted one does.
        One skip more than ``max_skipped_rounds`` in a row fails the run instead."""
        reason = str(short).removeprefix(f"round {server_round} failed: ")
        if self._release_short:  # a shortfall with nothing to noise: no skip under DP either
            text = (
                f"round {server_round} failed: {reason}; under central DP on_short_round="
                "'skip' releases a round short of replies (noised and accounted) but never "
                "skips one, since the skip would reveal an un-noised count; this round had "
                "nothing to release (too few clients available, or secure aggregation lost "
                "too many to unmask), so the run ends"
            )
            self._announce_failure(server_round, text)
            raise RoundShortOfClients(text, short.failures) from short
        in_row = self._skipped_in_row + 1
        if in_row > self.max_skipped_rounds:
            text = (
                f"round {server_round} failed: {reason}; on_short_round='skip' skipped "
                f"{self._skipped_in_row} round(s) in a row before it and max_skipped_rounds="
                f"{self.max_skipped_rounds}, so the run ends: too few clients report to fill a "
                "round (lower min_fit_clients, sample more clients, or raise "
                "max_skipped_rounds)"
            )
            self._announce_failure(server_round, text)
            raise RoundShortOfClients(text, short.failures) from short
        self._skipped_in_row = in_row
        kept = (
            "the initial model" if server_round == 1 else f"the model of round {server_round - 1}"
        )
        self._warn(
            f"round {server_round} skipped: {reason}; sampled {len(self._sampled)} "
            f"({', '.join(self._sampled[:SKIP_LISTED])}"
            f"{', ...' if len(self._sampled) > SKIP_LISTED else ''}); {kept} is kept "
            f"(on_short_round='skip', {in_row} round(s) in a row of at most "
            f"{self.max_skipped_rounds})",
            server_round,
        )
        record = RoundRecord(
            server_round,
            list(self._sampled),
            dict(short.failures),
            {ROUND_SKIPPED: 1.0},
            duration,
            skipped=reason,
        )
        self._record_round(record)
        self._checkpoint_round(server_round)
        return record

    def run_round(self, server_round: int) -> RoundRecord:
        """Run one round: sample, fit (through the workflow), aggregate, evaluate, record.

        A round that clients with spent local privacy budgets made fall short runs again
        without them (under secure aggregation only if it failed before unmasking,
        :class:`~rengo.hfl.workflow.ShortRound`); the abandoned attempt's results reach
        neither the model nor the client records (the declines and the workflow's exclusions
        are kept), and observers are told to forget them
        (:meth:`AbandonedAttemptObserver.on_attempt_abandoned`).
        """
        start = time.perf_counter()
        while True:
            record = self._attempt_round(server_round, start)
            if record is not None:
                return record

    def _attempt_round(self, server_round: int, start: float) -> RoundRecord | None:
        """One attempt at ``server_round``: its record, or ``None`` when the round must run
        again (the attempt is then abandoned). An attempt that raises keeps its client
        records (they explain the failure), and the observers not yet given the round's end
        are told it was abandoned."""
        client_records = _ClientRecords(server_round, "fit", self._log_clients)
        ended: list[RoundObserver] = []  # observers given this attempt's on_round_end
        try:
            record = self._attempt(server_round, start, client_records, ended)
        except BaseException as exc:
            client_records.flush()
            self._failure_log.end_round(server_round)  # the drops' summary, bookkeeping ends
            skippable = self._shortfall_may_retry and self.on_short_round == "skip"
            if isinstance(exc, RoundShortOfClients) and skippable:
                # skipped, run again or failed: _run_round_retrying decides, and says which
                self._short_ended = list(ended)
                raise
            stopped = isinstance(exc, StopTraining)
            self._abandon_attempt(
                server_round,
                "training stopped before it" if stopped else "the round failed",
                skip=ended,
            )
            raise
        self._failure_log.end_round(server_round)
        if record is None:
            self._abandon_attempt(server_round, "the round is run again")
        return record

    def _attempt(
        self,
        server_round: int,
        start: float,
        client_records: _ClientRecords,
        ended: list[RoundObserver],
    ) -> RoundRecord | None:
        rng = self._round_rng(server_round)
        self._sampled = []
        available = self._not_sitting_out(server_round, self.pool.client_ids())
        if len(available) < self.strategy.min_available_clients:
            if self._budgets_ran_out:  # the round before lost clients to their budgets
                self._stop_if_budgets_spent(server_round)
            raise self._fail(
                server_round,
                f"only {len(available)} clients available, "
                f"min_available_clients={self.strategy.min_available_clients}",
                failures={},
            )
        old = self.parameters
        attributes = snapshot_attributes(self.strategy)  # what the round adds is not kept
        # the state a checkpoint of the last round holds (configure_fit may change it): kept
        # for a round whose workflow excludes clients and which then fails (see _exclude),
        # and restored for a round that runs again
        state_before = self._state_before = self.strategy.state_dict()
        states_before = self._client_states()
        mods = self._client_mods()
        # each client its own instruction and config: a strategy may hand every client one
        # FitIns (as Flower's FedAvg does), and a per-client seed must not land in a shared dict
        instructions = _own_instructions(
            self.strategy.configure_fit(server_round, old, available, rng)
        )
        for cid, ins in instructions:
            _set_seeds(ins.config, client_seed(self.seed, server_round, cid), server_round)
            _unmark_evaluation_fit(ins.config)
            _request_mods(ins.config, mods)
        self._sampled = [cid for cid, _ in instructions]
        fit_round = FitRound(
            server_round,
            old,
            self.strategy,
            instructions,
            pool=self.pool,
            timeout=self.round_timeout,
            observers=self.observers,
            client_log=client_records.add,
            checks=self.checks,
            failure_log=self._failure_log,
            seed=self.seed,
        )
        assert self.workflow is not None
        # Poisson sampling may pick nobody: under DP that round still releases (noise only,
        # accounted), with no exchange at all
        empty = not instructions and self.strategy.accepts_empty_sample()
        spent: dict[str, str] = {}  # clients that declined: their own budget is spent
        new_spent: list[str] = []  # ... and were not excluded before this attempt
        if empty:
            self._budgets_ran_out = False
            acc = self.strategy.accumulator(server_round, old)
            self._warn(
                f"round {server_round}: the sample holds no client (Poisson sampling at rate "
                f"q can pick nobody); the model moves by the mechanism's noise alone and the "
                "round is accounted",
                server_round,
            )
        else:
            verdict: RoundFailure | None = None
            try:
                acc = self.workflow.run(fit_round)
            except RoundFailure as exc:  # a workflow's verdict (e.g. masks that cannot cancel)
                verdict = exc
            finally:
                self._note_slow(server_round, [c for c, _ in instructions], fit_round.timed_out)
                self._exclude(server_round, fit_round.excluded, state_before, states_before)
                spent = _spent_budgets(fit_round.failures)
                new_spent = sorted(self._exclude(server_round, spent, state_before, states_before))
            self._budgets_ran_out = bool(spent)
            if verdict is not None:
                if self._budgets_ran_out:
                    self._stop_if_budgets_spent(server_round)
                # a round short before it released anything (secure aggregation fails before
                # unmasking) runs again when the newly spent clients would have been enough
                if isinstance(verdict, ShortRound) and _short_of_spent(
                    new_spent, verdict.arrived, verdict.needed
                ):
                    self._run_again(
                        server_round, new_spent, fit_round, state_before, client_records
                    )
                    return None
                failures = fit_round.failures if isinstance(verdict, ShortRound) else None
                raise self._fail(server_round, str(verdict), failures) from verdict
            self._record_aggregation(server_round)
        failures = fit_round.failures
        if acc.count < self.strategy.min_fit_clients and not empty:
            if spent:  # only a round that lost clients to their budgets can end the run
                self._stop_if_budgets_spent(server_round)
            if _short_of_spent(
                new_spent, acc.count, self.strategy.min_fit_clients
            ) and sees_each_update(self.workflow):  # a second sum would reveal a difference
                self._run_again(server_round, new_spent, fit_round, state_before, client_records)
                return None
            detail = failures_summary(failures)
            shortfall = (
                f"only {acc.count} of {len(instructions)} clients reported, "
                f"min_fit_clients={self.strategy.min_fit_clients} ({detail})"
            )
            if not self._release_short:
                raise self._fail(
                    server_round, shortfall, failures
                )  # the attempt's client records are written on the way out
            self._warn(
                f"round {server_round} released short: {shortfall}; under central DP "
                "on_short_round='skip' releases the noised sum of the clients that replied "
                "(the noise alone if none did) and the accountant counts the round, since "
                "skipping it would reveal how many replied, a count no noise covers",
                server_round,
            )
        client_records.flush()
        self._offer_coalition_aggregation(server_round, old)
        aggregate = self._aggregate(server_round, old, acc)
        unlike = _unlike(aggregate.parameters, old)
        if unlike is not None:  # every client would fail to load it, next round
            raise self._fail(
                server_round,
                f"{self.strategy.name}.aggregate_fit returned a model unlike the one the round "
                f"started from ({unlike}); the model of round {server_round - 1} is kept and "
                "nothing was checkpointed",
            )
        problem = _not_finite(aggregate.parameters)
        if problem is not None:
            raise self._fail(
                server_round,
                f"the new model is not finite ({problem}){_likely_cause(fit_round.weights)}; "
                f"the model of round {server_round - 1} is kept and nothing was checkpointed",
            )
        problem = _cannot_travel(self.workflow, aggregate.parameters)
        if problem is not None:
            raise self._fail(
                server_round,
                f"the new model cannot be sent to the clients ({problem}); the model of round "
                f"{server_round - 1} is kept and nothing was checkpointed",
            )
        self.parameters = aggregate.parameters
        metrics: dict[str, float] = {f"train_{k}": v for k, v in acc.metrics().items()}
        _merge_strategy_metrics(metrics, aggregate.metrics, self.strategy.name)
        central = self.strategy.evaluate(server_round, self.parameters)
        if central is not None:
            loss, central_metrics = central
            metrics["central_loss"] = float(loss)
            metrics.update({f"central_{k}": float(v) for k, v in central_metrics.items()})
        released: list[bool] = []
        release = functools.partial(
            self._keep_release_spent,
            server_round,
            old,
            state_before,
            states_before,
            released,
            metrics,
        )
        try:
            metrics.update(
                self._federated_evaluate(server_round, available, rng, failures, mods, release)
            )
            duration = time.perf_counter() - start
            record = RoundRecord(
                server_round, [c for c, _ in instructions], failures, metrics, duration
            )
            self._record_round(record)  # kept, whatever an observer does with it
        except BaseException:  # a stop or failure after clients saw the model: note its spend
            if released:
                self._note_unrecorded_release(server_round, metrics)
            raise
        for obs in self.observers:
            ended.append(obs)
            obs.on_round_end(server_round, old, self.parameters, metrics)
        warn_unkept_attributes(attributes, server_round, self._unkept_warned)
        self._checkpoint_round(server_round)  # after the observers: their state includes it
        return record

    # -- pieces -------------------------------------------------------------------------------
    def _run_again(
        self,
        server_round: int,
        spent: list[str],
        fit_round: FitRound,
        state_before: dict[str, Any],
        client_records: _ClientRecords,
    ) -> None:
        """Prepare ``server_round`` to run again without ``spent``, clients newly excluded
        because their local privacy budget is spent (each attempt that runs again excludes at
        least one, so a round runs again at most once per client). They declined before
        training, so the round restarts from the strategy's state before it (nobody's update
        was aggregated); of this attempt's client records only theirs and those of clients
        the workflow excluded are written."""
        self._warn(
            f"round {server_round} is run again without client(s) {', '.join(spent)}, whose "
            "local privacy budget is spent",
            server_round,
        )
        self.strategy.load_state_dict(state_before)
        client_records.flush(only={*spent, *fit_round.excluded})

    def _abandon_attempt(
        self, server_round: int, reason: str, skip: Sequence[RoundObserver] = ()
    ) -> None:
        """Tell observers that can hear it that this attempt's results will not be used,
        except those in ``skip`` (given the round's end already). An observer that raises is
        logged: the attempt's own outcome stands."""
        for observer in self.observers:
            if any(observer is done for done in skip):
                continue
            hook = getattr(observer, "on_attempt_abandoned", None)
            if callable(hook):
                try:
                    hook(server_round, reason)
                except Exception:
                    log.exception(
                        "round %d: %s.on_attempt_abandoned raised",
                        server_round,
                        type(observer).__name__,
                    )

    def _not_sitting_out(self, server_round: int, available: list[str]) -> list[str]:
        """``available`` without the excluded clients and the slow ones sitting this round
        out - unless too few would be left, then with the slow ones."""
        available = [c for c in available if c not in self._excluded]
        active = [c for c in available if self._slow_until.get(c, 0) < server_round]
        return active if len(active) >= self.strategy.min_available_clients else available

    def _note_slow(self, server_round: int, sampled: list[str], timed_out: set[str]) -> None:
        """Count each sampled client's round timeouts in a row; mark slow ones. A round counts
        once per client however many attempts it took: a miss in any attempt is one missed
        round, a reply (in a later attempt too) ends the streak."""
        if self.slow_after <= 0:
            return
        for cid in sampled:
            if cid not in timed_out:
                self._misses.pop(cid, None)
                continue
            if self._missed_round.get(cid) == server_round:  # an earlier attempt counted it
                continue
            misses = self._misses.get(cid, 0) + 1
            self._misses[cid] = misses
            self._missed_round[cid] = server_round
            if misses >= self.slow_after:
                self._slow_until[cid] = server_round + self.slow_rounds
                missed = (
                    "missed the round timeout"
                    if self.round_timeout
                    else "was cut off as a straggler (far slower than the others)"
                )
                text = (
                    f"client {cid} is slow: it {missed} {misses} rounds in a "
                    f"row; not waiting for it in rounds {server_round + 1}-"
                    f"{server_round + self.slow_rounds}, then it is tried again"
                )
                self._warn(text, server_round)

    @property
    def excluded(self) -> dict[str, str]:
        """Client -> why it is left out of the run's later rounds (a copy)."""
        return dict(self._excluded)

    def _exclude(
        self,
        server_round: int,
        culprits: dict[str, str],
        state_before: dict[str, Any] | None,
        states_before: dict[str, bytes] | None,
    ) -> list[str]:
        """Leave ``culprits`` out of the run's later rounds, and - with checkpoints in a store -
        checkpoint the last round again with them, so a resume keeps them out even if this
        round then fails (``state_before``, ``states_before``: the strategy's and the
        clients' states before this round). Returns the culprits that were not excluded
        before."""
        new = {cid: reason for cid, reason in culprits.items() if cid not in self._excluded}
        for cid, reason in new.items():
            self._excluded[cid] = reason
            self._warn(f"client {cid} is excluded from the rest of the run: {reason}", server_round)
        if new and self.store is not None and self.checkpoint_every and self.run_id is not None:
            last = server_round - 1
            blob = self.checkpoint_blob(
                last, strategy_state=state_before, client_states=states_before
            )
            self.store.save_checkpoint(self.run_id, last, blob)
        return list(new)

    def _keep_release_spent(
        self,
        server_round: int,
        old: Parameters,
        state_before: dict[str, Any],
        states_before: dict[str, bytes] | None,
        released: list[bool],
        metrics: Mapping[str, float],
    ) -> None:
        """Before this round's model is shown to clients (federated evaluation), write its
        spend ahead and checkpoint the last round again.

        The spend (a central-DP round's ``dp_epsilon`` in ``metrics``, its delta and rounds
        accounted) is written to the store synced to disk, after the checkpoint
        (:meth:`~rengo.tracking.RunStore.log_written_ahead`) and before anything leaves: a run
        killed (SIGKILL, a power loss) while clients hold the model states it in ``rengo
        runs show``, the model card and the dashboard; the round's record replaces it. The
        checkpoint is the last round's - its model ``old`` - with the strategy's state after
        the release (:meth:`~rengo.hfl.Strategy.released_state`: a DP strategy's spend
        counted): a run stopped before this round's own checkpoint then resumes with the
        spend kept (without it, the resumed run ran the round again and counted the privacy
        cost of two releases once). ``released`` is marked once both are written, so that a
        round that then ends unrecorded says so in a warning
        (:meth:`_note_unrecorded_release`)."""
        if self.store is None or self.run_id is None:
            released.append(True)
            return
        if self.checkpoint_every:
            state = self.strategy.released_state(state_before)
            if state is not None:
                last = server_round - 1
                blob = self.checkpoint_blob(
                    last, strategy_state=state, parameters=old, client_states=states_before
                )
                self.store.save_checkpoint(self.run_id, last, blob)
        # last: its synced commit makes the checkpoint above durable too (SQLite's write-ahead
        # log is synced whole), so a power loss cannot keep the note and lose the spend the
        # resume needs (the resumed run would count this release nowhere)
        spend = _dp_spend(server_round, metrics)
        write_ahead = getattr(self.store, "log_written_ahead", None)
        if spend is not None and callable(write_ahead):
            write_ahead(self.run_id, server_round, release_intent(spend))
        released.append(True)

    def _record_aggregation(self, server_round: int) -> None:
        """Record what the fit workflow let the coordinator learn in ``server_round``, where
        the workflow says (``round_record``: secure aggregation's whose sum it unmasked, at
        which threshold, and who dropped at which stage), for whoever audits the run."""
        record = getattr(self.workflow, "round_record", None)
        if callable(record) and self.store is not None and self.run_id is not None:
            self.store.log_event(self.run_id, "info", str(record()), server_round)

    def _note_unrecorded_release(self, server_round: int, metrics: Mapping[str, float]) -> None:
        """Record, as a run event, the DP spend of a round whose model clients were shown and
        that then ended unrecorded (the run stopped or failed in its federated evaluation):
        the run's record would otherwise state the epsilon of the round before, one release
        short, for as long as it is not resumed (:mod:`rengo.privacy.release_note`)."""
        spend = _dp_spend(server_round, metrics)
        if self.store is None or self.run_id is None or spend is None:
            return
        self.store.log_event(self.run_id, "warning", release_note(spend), server_round)

    def _stop_if_budgets_spent(self, server_round: int) -> None:
        """Raise StopTraining when local privacy budgets end the run: the clients still
        eligible (connected, not excluded) are too few for a round, and would be enough with
        the clients that left because their own budget is spent (local DP). No later round
        could then run, so the run ends cleanly with the model of the last completed round,
        as a central DP budget ends it. Called only for a round that lost clients to their
        budgets (or the round after one); a shortage of any other cause (an outage,
        crashes) is left to fail the round."""
        spent = sorted(cid for cid, reason in self._excluded.items() if is_spent_budget(reason))
        if not spent:
            return
        eligible = [c for c in self.pool.client_ids() if c not in self._excluded]
        needed = max(self.strategy.min_fit_clients, self.strategy.min_available_clients)
        if len(eligible) < needed <= len(eligible) + len(spent):
            raise StopTraining(
                f"round {server_round} cannot be completed: the local privacy budget of "
                f"{len(spent)} client(s) ({', '.join(spent[:5])}"
                f"{', ...' if len(spent) > 5 else ''}) is spent and the {len(eligible)} "
                f"client(s) left are too few (min_fit_clients="
                f"{self.strategy.min_fit_clients}, min_available_clients="
                f"{self.strategy.min_available_clients}); training stops with the model of "
                f"round {server_round - 1}"
            )

    def _warn(self, text: str, server_round: int) -> None:
        """Log ``text`` and record it as a warning event of the run."""
        log.warning(text)
        if self.store is not None and self.run_id is not None:
            self.store.log_event(self.run_id, "warning", text, server_round)

    def slow_clients(self, server_round: int) -> list[str]:
        """Clients marked slow that sit out ``server_round``."""
        return sorted(c for c, until in self._slow_until.items() if until >= server_round)

    def _round_rng(self, server_round: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, server_round]))

    def aggregation_rng(self, server_round: int) -> np.random.Generator:
        """The generator ``aggregate_fit`` gets in ``server_round`` (derived from the seed,
        independent of client sampling)."""
        seq = np.random.SeedSequence([self.seed, server_round, _AGGREGATION_STREAM])
        return np.random.default_rng(seq)

    def _offer_coalition_aggregation(self, server_round: int, old: Parameters) -> None:
        """Hand observers that take it (``on_coalition_aggregation``) the round's aggregation,
        replayable on any subset of its results from the strategy's state as it is now,
        before the round aggregates (:mod:`rengo.hfl.coalition_aggregation`); only for a
        strategy that aggregates otherwise than FedAvg and can be replayed."""
        takers = [
            hook
            for hook in (getattr(o, "on_coalition_aggregation", None) for o in self.observers)
            if callable(hook)
        ]
        if not takers or not offers_coalition_aggregation(self.strategy):
            return
        replay = CoalitionAggregation.snapshot(
            self.strategy, server_round, old, lambda: self.aggregation_rng(server_round)
        )
        for hook in takers:
            hook(server_round, replay)

    def _aggregate(self, server_round: int, old: Parameters, acc: WeightedSum) -> Aggregate:
        rng = self.aggregation_rng(server_round)
        return aggregate_with_rng(self.strategy, server_round, old, acc, rng)

    def _client_mods(self) -> tuple[str, ...]:
        assert self.workflow is not None
        names = [*self.workflow.client_mods(), *self.strategy.client_mods()]
        return tuple(dict.fromkeys(names))

    def _federated_evaluate(
        self,
        server_round: int,
        available: list[str],
        rng: np.random.Generator,
        failures: dict[str, str],
        mods: tuple[str, ...] = (),
        release: Callable[[], None] | None = None,
    ) -> dict[str, float]:
        """The round's federated evaluation: its aggregated metrics; every client's outcome
        is recorded (in one write, also when the evaluation raises). ``release`` runs before
        the new model is sent to any client."""
        records = _ClientRecords(server_round, "evaluate", self._log_clients)
        try:
            return self._evaluate_clients(
                server_round, available, rng, failures, mods, records, release
            )
        finally:
            records.flush()

    def _evaluate_clients(
        self,
        server_round: int,
        available: list[str],
        rng: np.random.Generator,
        failures: dict[str, str],
        mods: tuple[str, ...],
        records: _ClientRecords,
        release: Callable[[], None] | None,
    ) -> dict[str, float]:
        instructions = _own_instructions(
            self.strategy.configure_evaluate(server_round, self.parameters, available, rng)
        )
        if not instructions:
            return {}
        if release is not None:
            release()
        for cid, ins in instructions:
            # as a fit's config has them: the seed fixes what a client draws to evaluate (a
            # shuffled loader's batches), which otherwise varied with the executor
            _set_seeds(ins.config, client_seed(self.seed, server_round, cid), server_round)
            _request_mods(ins.config, mods)
        prepare = getattr(self.workflow, "prepare_evaluate", None)
        if callable(prepare):  # the model travels as the workflow sends it (compressed)
            try:
                prepare(server_round, self.seed, self.parameters, instructions)
            except RoundFailure as exc:  # a workflow's own refusal to send the new model
                raise self._fail(
                    server_round, f"{exc}; nothing of round {server_round} was checkpointed"
                ) from exc
        screened: list[tuple[str, EvaluateResult]] = []
        kept_traffic: dict[str, tuple[int, int, float]] = {}
        notes: dict[str, str] = {}
        checks = self.checks or ResultChecks()
        requests = EncodeOnDemand([(cid, EVALUATE, ins) for cid, ins in instructions], encode)
        for reply in self.pool.request(requests, timeout=self.round_timeout):
            traffic = (reply.bytes_sent, reply.bytes_received, reply.duration_s)
            reason = reply.error
            result: Any = None
            if reason is None and reply.payload is not None:
                try:
                    result = decode_owned(reply.payload)
                except CodecError as exc:
                    reason = f"undecodable reply: {exc}"
                else:
                    if not isinstance(result, EvaluateResult):
                        reason = f"sent {type(result).__name__}, not EvaluateResult"
                    elif not np.isfinite(result.loss):
                        reason = "evaluation loss is NaN or Inf"
                    else:  # its count weighs the federated loss
                        reason = checks.claim_problem(result.num_examples, "evaluation examples")
            if reason is not None:
                self._refuse_evaluation(
                    server_round,
                    reply.client_id,
                    reason,
                    failures,
                    traffic,
                    None if reply.ok else reply.traceback,
                    records,
                )
                continue
            metrics, refused = screen_metrics(result.metrics)
            if refused:  # the loss counts; the metrics it lied about do not
                notes[reply.client_id] = f"{'; '.join(refused)}: dropped"
                log.warning(
                    "round %d: client %s: evaluate: %s",
                    server_round,
                    reply.client_id,
                    notes[reply.client_id],
                )
                result = EvaluateResult(result.loss, result.num_examples, metrics)
            screened.append((reply.client_id, result))
            kept_traffic[reply.client_id] = traffic
        # the whole round's claims are in: cap them by its median, refuse what would overflow
        ratio = self.checks.max_evaluation_weight_ratio if self.checks is not None else None
        loss_ratio = self.checks.max_evaluation_loss_ratio if self.checks is not None else None
        results: list[tuple[str, EvaluateResult]] = []
        for verdict in screen_evaluations(screened, ratio, loss_ratio):
            cid, traffic = verdict.client_id, kept_traffic[verdict.client_id]
            if verdict.result is None:
                assert verdict.note is not None
                self._refuse_evaluation(
                    server_round, cid, verdict.note, failures, traffic, None, records
                )
                continue
            note = notes.get(cid)
            if verdict.note is not None:
                log.warning("round %d: client %s: evaluate: %s", server_round, cid, verdict.note)
                note = "; ".join(filter(None, (note, verdict.note)))
            if verdict.told is not None:
                tell_party(self.pool, cid, server_round, verdict.told)
            results.append((cid, verdict.result))
            # with the loss it reported, so the run names whose loss moved eval_loss
            reported = {**verdict.result.metrics, "loss": verdict.result.loss}
            records.add(cid, "ok", verdict.result.num_examples, traffic, note, reported)
        if not results:
            return {}
        loss, metrics = self.strategy.aggregate_evaluate(server_round, results)
        out = {f"eval_{k}": float(v) for k, v in metrics.items()}
        # the mean of every result's loss: never a metric some parties named "loss"
        out["eval_loss"] = float(loss)
        return out

    def _refuse_evaluation(
        self,
        server_round: int,
        client_id: str,
        reason: str,
        failures: dict[str, str],
        traffic: tuple[int, int, float],
        traceback: str | None,
        records: _ClientRecords,
    ) -> None:
        """Leave one evaluation result out of the round: recorded with ``reason``, the
        party told, the failure logged once."""
        failures.setdefault(client_id, f"{EVALUATE_FAILURE}{reason}")
        tell_party(
            self.pool, client_id, server_round, f"your evaluation result was not counted: {reason}"
        )
        self._failure_log.report(server_round, client_id, f"{EVALUATE_FAILURE}{reason}", traceback)
        records.add(client_id, "failed", 0, traffic, reason, None)

    def checkpoint_blob(
        self,
        server_round: int,
        strategy_state: dict[str, Any] | None = None,
        *,
        parameters: Parameters | None = None,
        client_states: Mapping[str, bytes] | None = None,
    ) -> bytes:
        """Model and strategy state after ``server_round``, as codec bytes, with the clients
        excluded so far (a resumed run keeps them out), the state of each observer that
        keeps one (:class:`StatefulObserver`: a contribution tracker's values of the rounds
        so far) and, where the pool holds them (a simulation's), what the clients keep
        between rounds. ``strategy_state``: the strategy's
        :meth:`~rengo.hfl.Strategy.state_dict` to store instead of its current one;
        ``parameters`` and ``client_states``: the model and the clients' states to store
        instead of the current ones (those of the round before, while a round is under way)."""
        state = self.strategy.state_dict() if strategy_state is None else strategy_state
        checkpoint: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "round": server_round,
            "parameters": self.parameters if parameters is None else parameters,
            "strategy": state,
            "strategy_name": self.strategy.name,
            "excluded": dict(self._excluded),
            "skipped_in_row": self._skipped_in_row,
            "observers": {
                key: observer.observer_state()  # type: ignore[attr-defined]
                for key, observer in self._stateful_observers().items()
            },
        }
        held = self._client_states() if client_states is None else client_states
        if held is not None:  # optional: a release before it reads the rest and restarts them
            checkpoint["client_states"] = dict(held)
        return encode(checkpoint)

    def _client_states(self) -> dict[str, bytes] | None:
        """What the clients keep between rounds now, where the pool holds it (None: a
        deployed federation, whose parties keep their own)."""
        return self.pool.client_states() if isinstance(self.pool, KeepsClientStates) else None

    @property
    def restored_client_states(self) -> bool:
        """Whether :meth:`restore` gave the pool back what its clients keep between rounds
        (False: no restore, a checkpoint without them, or a pool that holds none)."""
        return self._restored_client_states

    def _stateful_observers(self) -> dict[str, object]:
        """The observers that keep state across a resume, by position and class name (the
        same run's observers have the same keys when it resumes)."""
        return {
            f"{i}:{type(observer).__name__}": observer
            for i, observer in enumerate(self.observers)
            if callable(getattr(observer, "observer_state", None))
            and callable(getattr(observer, "load_observer_state", None))
        }

    def restore(self, blob: bytes) -> int:
        """Load a checkpoint made by :meth:`checkpoint_blob` (this release's or the previous
        layout); returns its round. Clients the checkpointed run excluded stay excluded
        (checkpoints written before exclusions were kept have none).

        A checkpoint holds the model, the strategy's server state, the exclusions, the
        count of rounds skipped in a row (``on_short_round="skip"``), the
        state of observers that keep one (:class:`StatefulObserver`: a contribution tracker
        resumes with every round valued so far) and, from a simulation, what its clients keep
        between rounds (SCAFFOLD's control variates, personal layers, Ditto's personal
        models, top-k's residuals), given back to this coordinator's pool where it holds
        clients' states: a resumed simulation ends bit-identical to an uninterrupted one.
        Deployed parties keep their own state; a checkpoint without clients' states (from a
        deployed run, or written before they were kept) leaves a simulation's clients to
        start again empty, ending elsewhere for strategies with client state.

        Raises
        ------
        ConfigError
            If the checkpoint is of another strategy (a resume with another job).
        DataError
            If the checkpoint is not one, of an unknown layout, or its excluded clients or
            observer states are malformed.
        ValueError
            If its server state does not fit the strategy, an observer's state does not fit
            the observer, or it keeps the state of a client the pool lacks.
        """
        state = decode(bytearray(blob))
        if not isinstance(state, dict) or "round" not in state or "parameters" not in state:
            raise DataError("not a rengo round checkpoint (no round or parameters in it)")
        layout = state.get("format", 1)
        if layout not in (1, CHECKPOINT_FORMAT):
            raise DataError(
                f"checkpoint layout {layout} is newer than this rengo reads "
                f"(1..{CHECKPOINT_FORMAT}); upgrade rengo to resume it"
            )
        if state.get("strategy_name") != self.strategy.name:
            raise ConfigError(
                f"checkpoint is for {state.get('strategy_name')}, not {self.strategy.name}: "
                "resume with the strategy the run started with"
            )
        excluded = state.get("excluded", {})
        if not isinstance(excluded, dict) or not all(
            isinstance(c, str) and isinstance(why, str) for c, why in excluded.items()
        ):
            raise DataError("checkpoint's excluded clients are not a map of id to reason")
        observed = state.get("observers", {})
        if not isinstance(observed, dict):
            raise DataError("checkpoint's observer states are not a map")
        skipped_in_row = state.get("skipped_in_row", 0)
        if isinstance(skipped_in_row, bool) or not isinstance(skipped_in_row, int):
            raise DataError("checkpoint's count of rounds skipped in a row is not an integer")
        kept = state.get("client_states")
        if kept is not None and not (
            isinstance(kept, dict)
            and all(isinstance(c, str) and isinstance(b, bytes) for c, b in kept.items())
        ):
            raise DataError("checkpoint's client states are not a map of id to bytes")
        self.parameters = list(state["parameters"])
        self.strategy.load_state_dict(state["strategy"])
        self.start_round = int(state["round"]) + 1
        self._excluded = dict(excluded)
        self._skipped_in_row = max(0, skipped_in_row)
        for key, observer in self._stateful_observers().items():
            if key in observed:
                observer.load_observer_state(observed[key])  # type: ignore[attr-defined]
            else:
                log.warning(
                    "the checkpoint of round %d holds no state of observer %s (checkpointed "
                    "without it): it sees only the rounds after it",
                    self.start_round - 1,
                    key,
                )
        if kept is not None and isinstance(self.pool, KeepsClientStates):  # last: all else fit
            self.pool.load_client_states(kept)
            self._restored_client_states = True
        return int(state["round"])

    def _record_round(self, record: RoundRecord) -> None:
        if self.store is None or self.run_id is None:
            return
        self.store.log_round(
            self.run_id,
            record.server_round,
            record.metrics,
            record.duration_s,
            len(record.clients),
            len(record.failures),
        )

    def _checkpoint_round(self, server_round: int) -> None:
        if self.store is None or self.run_id is None:
            return
        if self.checkpoint_every and server_round % self.checkpoint_every == 0:
            self.store.save_checkpoint(
                self.run_id, server_round, self.checkpoint_blob(server_round)
            )
            stored = self.store.checkpoint_rounds(self.run_id)
            pinned = self._pinned_rounds()
            stale = [r for r in self.checkpoints.rounds_to_drop(stored) if r not in pinned]
            if stale:
                self.store.delete_checkpoints(self.run_id, stale)

    def _log_clients(self, records: list[ClientRecord]) -> None:
        if self.store is not None and self.run_id is not None:
            self.store.log_clients(self.run_id, records)

    def _record_first_failure(
        self, server_round: int, client_id: str, reason: str, traceback: str | None
    ) -> None:
        """The first time a client fails with a reason, keep it (and where it raised) among
        the run's events; later rounds' repeats are only in the client records."""
        if self.store is None or self.run_id is None:
            return
        text = f"client {client_id} dropped: {reason}"
        if traceback is not None:
            text += f"\n{traceback.rstrip()}"
        # a loss the simulation asked for ([dropout]) is information, not a warning
        level = "info" if is_simulated_loss(reason) else "warning"
        self.store.log_event(self.run_id, level, text, server_round)

    def _fail(
        self, server_round: int, message: str, failures: Mapping[str, str] | None = None
    ) -> RoundFailure:
        """The round's failure, logged and recorded; with ``failures`` (the clients that
        failed it, possibly none) a :class:`RoundShortOfClients`."""
        text = f"round {server_round} failed: {message}"
        if failures is not None:
            if not self._shortfall_may_retry:  # else said once the retry hook declined
                self._announce_failure(server_round, text)
            return RoundShortOfClients(text, failures)
        self._announce_failure(server_round, text)
        return RoundFailure(text)

    def _announce_failure(self, server_round: int, text: str) -> None:
        """Log a round's failure and record it as an error event."""
        log.error(text)
        if self.store is not None and self.run_id is not None:
            self.store.log_event(self.run_id, "error", text, server_round)


def _unlike(new: Parameters, old: Parameters) -> str | None:
    """How an aggregated model differs from the model its round started from in what clients
    load (the number of arrays, each one's type and shape), or None."""
    if len(new) != len(old):
        return f"{len(new)} arrays, the model has {len(old)}"
    for i, (array, before) in enumerate(zip(new, old, strict=True)):
        if not isinstance(array, np.ndarray):
            return f"array {i} is a {type(array).__name__}, not a numpy array"
        if array.shape != np.shape(before):
            return f"array {i} has shape {array.shape}, the model's is {np.shape(before)}"
    return None


def _cannot_travel(workflow: object, parameters: Parameters) -> str | None:
    """Why the workflow cannot send ``parameters`` to the clients (its ``model_problem``:
    see :class:`~rengo.hfl.workflow.FitWorkflow`), or None."""
    model_problem = getattr(workflow, "model_problem", None)
    return model_problem(parameters) if callable(model_problem) else None


def _not_finite(parameters: Parameters) -> str | None:
    """Where a model has a NaN or Inf (or a non-numeric array), or None."""
    for i, array in enumerate(parameters):
        values = np.asarray(array)
        if values.dtype.kind not in "fiub":
            return f"array {i} has non-numeric dtype {values.dtype}"
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            return f"array {i} has NaN or Inf"
    return None


def _likely_cause(weights: dict[str, tuple[float, float]]) -> str:
    """Names the result that could move the aggregate most (weight x largest value)."""
    if not weights:
        return ""
    culprit = max(weights, key=lambda cid: weights[cid][1])
    weight, scale = weights[culprit]
    return (
        f"; the largest contribution came from client {culprit} (weight {weight:g} x values "
        f"up to {scale / weight if weight else 0.0:.3g})"
    )


_Ins = TypeVar("_Ins", FitIns, EvaluateIns)


def _own_instructions(instructions: Sequence[tuple[str, _Ins]]) -> list[tuple[str, _Ins]]:
    """Each client's instruction as a copy with a config of its own (the model arrays stay
    shared), so the per-client keys the coordinator writes reach that client only."""
    own: list[tuple[str, _Ins]] = []
    for cid, ins in instructions:
        copied = copy.copy(ins)
        copied.config = dict(ins.config)
        own.append((cid, copied))
    return own


_REPLACED = (
    "a strategy's round config (on_fit_config or on_evaluate_config) set {key!r}, which the "
    "coordinator sends to every client as {what}: the coordinator's value replaced the "
    "strategy's. Send your own value under another key"
)
"""Warned when a round config holds a reserved key with another value than the
coordinator's (once per key, as Python shows a repeated warning); the same value given as a
str or float (``"3"``, ``3.0``) is no conflict."""


def _set_seeds(config: Config, own_seed: int, server_round: int) -> None:
    """The seeds and round number a client's instruction carries: the training ``"seed"``
    unless the strategy's config gave one, and, always, the coordinator's round under
    ``"server_round"`` and its own client seed under :data:`COORDINATOR_SEED_KEY`. Those two
    keys are the coordinator's: a strategy value must not part the fit and evaluation draws of
    :class:`rengo.hfl.SimulatedDropout`, which mixes both, nor make ``"server_round"`` mean
    another round on a client than in the run's record. A different value there is replaced,
    with a warning (:data:`_REPLACED`)."""
    config.setdefault("seed", own_seed)
    reserved = (
        ("server_round", server_round, "the round number"),
        (COORDINATOR_SEED_KEY, own_seed, "its own client seed"),
    )
    for key, value, what in reserved:
        if key in config and not _same_int(config[key], value):
            warnings.warn(_REPLACED.format(key=key, what=what), UserWarning, stacklevel=4)
        config[key] = value


_NOT_AN_EVALUATION = (
    f"a strategy's round config (on_fit_config) set {EVALUATION_FIT_KEY!r}, which marks a fit "
    "a mod runs inside an evaluation (FineTuneMod's fine-tuning), so that SimulatedDropout "
    "takes it as part of the evaluation: the coordinator removed it from this training fit. "
    "Send your own value under another key"
)
"""Warned when a training fit's round config holds :data:`EVALUATION_FIT_KEY` (once, as Python
shows a repeated warning)."""


def _unmark_evaluation_fit(config: Config) -> None:
    """A training fit is no evaluation: the coordinator removes :data:`EVALUATION_FIT_KEY`
    from its config, with a warning (:data:`_NOT_AN_EVALUATION`), since a round config that
    set it would make :class:`rengo.hfl.SimulatedDropout` (``evaluate=False``) lose no client
    from training. Only a mod that runs a fit inside an evaluation sets it, client-side."""
    if EVALUATION_FIT_KEY in config:
        del config[EVALUATION_FIT_KEY]
        warnings.warn(_NOT_AN_EVALUATION, UserWarning, stacklevel=4)


def _same_int(held: Any, value: int) -> bool:
    """Whether a round config's ``held`` is ``value`` by value: an int, a whole float or a
    string that parses as one (Flower's ``Scalar`` allows all three; ``"3"`` and ``3.0`` are
    round 3). The client gets the coordinator's int either way, with no warning then."""
    if isinstance(held, bool):
        return False
    if isinstance(held, (int, np.integer)):
        return int(held) == value
    if isinstance(held, str):
        try:
            held = float(held.strip())
        except ValueError:
            return False
    if isinstance(held, (float, np.floating)):
        return bool(np.isfinite(held)) and float(held).is_integer() and int(held) == value
    return False


def _request_mods(config: Config, mods: tuple[str, ...]) -> None:
    if mods:
        config[MODS_KEY] = mods_config_value(mods)


def _merge_strategy_metrics(
    metrics: dict[str, float], extra: dict[str, float], strategy: str
) -> None:
    for key, value in extra.items():
        if key in metrics or key.startswith(("train_", "central_", "eval_")):
            raise ValueError(
                f"{strategy}.aggregate_fit returned metric {key!r}, which collides with the "
                "round loop's own train_/central_/eval_ metrics; rename it"
            )
        if key == ROUND_SKIPPED:  # would make the round read as skipped everywhere
            raise ValueError(
                f"{strategy}.aggregate_fit returned metric {key!r}, the name the round loop "
                "reserves to mark a round skipped short of clients (on_short_round='skip'); "
                "rename it"
            )
        metrics[key] = float(value)


def _spent_budgets(failures: dict[str, str]) -> dict[str, str]:
    """The failed clients whose own privacy budget is spent, with why they leave the run."""
    return {
        cid: f"its local privacy budget is spent ({reason})"
        for cid, reason in failures.items()
        if is_spent_budget(reason)
    }


def _short_of_spent(new_spent: Sequence[str], arrived: int, needed: int) -> bool:
    """Whether clients newly excluded for a spent budget made a round short: with their
    results it would have had the ``needed`` it lacked (so it may run again without them)."""
    return bool(new_spent) and arrived + len(new_spent) >= needed
