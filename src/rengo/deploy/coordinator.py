"""The deployed coordinator: a gRPC hub plus the same round loop simulation uses.

``serve_coordinator`` listens for parties, waits for the run's named parties (or a quorum
of them once the start deadline passed, saying who was missing), runs the rounds with the
simulation's round loop, and records joins, leaves, rounds, traffic and a checkpoint per
round in the run store (one run lifecycle, :func:`rengo.tracking.open_run`); with
``resume=RUN_ID`` it continues an interrupted run from its last checkpoint.

Parties are not trusted blindly: every result passes the :class:`~rengo.hfl.ResultChecks`
(median rules on), a message may be at most about twice the model's size, the hub routes
nothing between parties, a party that keeps missing the round timeout is no longer waited
for, and parties that lost their link before the end are told the run finished.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from rengo.core.deprecation import moved_names
from rengo.core.errors import ConfigError, RoundFailure
from rengo.core.parameters import Parameters, num_bytes
from rengo.deploy.live_parties import LiveParties
from rengo.deploy.party_data import PartyDataRecorder
from rengo.deploy.presence import PresenceRecorder
from rengo.hfl.checkpoints import CheckpointRetention
from rengo.hfl.compressed_exchange import compression_settings
from rengo.hfl.coordinator import (
    Coordinator,
    History,
    ProgressFn,
    RoundObserver,
    RoundRecord,
    RoundShortOfClients,
    observers_run_summary,
    round_summary,
)
from rengo.hfl.observer_fit import check_observers_fit
from rengo.hfl.privacy_fit import check_privacy_fits
from rengo.hfl.privacy_record import DP_ACCOUNTING, privacy_settings, record_release_on_resume
from rengo.hfl.progress_bar import RoundProgressBar
from rengo.hfl.reply_count import RepliesCounted
from rengo.hfl.result_checks import ResultChecks
from rengo.hfl.round_clients_fit import check_round_clients_fit
from rengo.hfl.run_traffic import RunTraffic
from rengo.hfl.secagg.workflow import SecAggPlus
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.workflow import FitWorkflow, default_checks
from rengo.tracking.errors import StoreClosedError, StoreWriteRefused
from rengo.tracking.party_requests import recorded_party_requests
from rengo.tracking.run import Run, open_run
from rengo.tracking.store import RunStore
from rengo.transport.grpc_hub import GrpcHub, check_can_listen, lost_link
from rengo.transport.grpc_security import HubSecurity
from rengo.transport.straggler import StragglerWait

DEFAULT_STRAGGLERS = StragglerWait()
"""A deployed run's straggler rule unless told otherwise: 10x half the parties' time, 60 s."""

log = logging.getLogger("rengo.deploy")

RUN_KIND = "hfl-deployed"

ROUNDS_IN_MEMORY = 1000
"""Latest rounds a recorded deployed run's history holds in memory (the store holds all)."""


MESSAGE_SLACK = 8 * 1024**2
"""Bytes a party's message may carry beyond its arrays (metrics, codec headers)."""


def message_limit(strategy: Strategy, parameters: Parameters) -> int:
    """The largest message a horizontal party may send: twice the arrays of a fit result
    (a float32 model answered in float64 fits) plus :data:`MESSAGE_SLACK`."""
    return 2 * num_bytes(strategy.result_reference(parameters)) + MESSAGE_SLACK


def recorded_hub(
    listen: str,
    security: HubSecurity,
    heartbeat_interval: float,
    store: Any,
    run_id: str | None,
    on_event: Callable[[str, str], None] | None = None,
    **hub_options: Any,
) -> tuple[GrpcHub, Callable[[str, str], None]]:
    """A hub whose join/leave/refusal events land in ``store`` under ``run_id`` (and go to
    ``on_event``), with who is online kept current there (see :class:`PresenceRecorder`),
    each revoked certificate the hub meets (:meth:`~rengo.tracking.RunStore.record_revocation`),
    each party's build (:meth:`~rengo.tracking.RunStore.record_party_release`)
    and what each party reports it trains on (see :class:`PartyDataRecorder`),
    and the recorder itself for the caller's own events (a no-op without a store).
    ``hub_options`` go to :class:`~rengo.transport.grpc_hub.GrpcHub` (message limit, memory
    budget, routing)."""
    presence: PresenceRecorder | None = None
    unwritable_said = threading.Event()  # said once: the round loop stops on it

    def record_event(level: str, message: str) -> None:
        if on_event is not None:
            on_event(level, message)
        if store is not None and run_id is not None:
            # a party's last words may come as the command closes the store: they are the
            # operator's console line then, not a traceback
            try:
                with contextlib.suppress(StoreClosedError):
                    store.log_event(run_id, level, message)
            except StoreWriteRefused as exc:
                if not unwritable_said.is_set():
                    unwritable_said.set()
                    log.warning("events of run %s are not recorded: %s", run_id, exc)
        if presence is not None:  # joins, leaves and the final close: who is online now
            presence.refresh()

    def record_revocation(party: str, serial: int) -> None:
        # the structured record the run's `parties` table reads (no party's text can forge it)
        with contextlib.suppress(StoreClosedError, StoreWriteRefused):
            store.record_revocation(run_id, party, serial)

    recorded_builds: set[tuple[str, str]] = set()

    def record_release(party: str, release: str | None, wire: int | None) -> None:
        # the build each party runs, as its hello named it (the handshake checked its format);
        # a rejoin with a build already recorded writes nothing (no transaction per hello)
        build = (
            "a build whose hello names no release"
            if release is None
            else f"rengo {release} (wire format {wire})"
        )
        if (party, build) in recorded_builds:
            return
        with contextlib.suppress(StoreClosedError, StoreWriteRefused):
            store.record_party_release(run_id, party, build)
            recorded_builds.add((party, build))

    reports = None
    if store is not None and run_id is not None:
        reports = PartyDataRecorder(store, run_id, record_event)
    hub = GrpcHub(
        listen,
        security,
        heartbeat_interval=heartbeat_interval,
        run_id=run_id or "",
        on_event=record_event,
        on_data_files=reports,
        on_revoked=record_revocation if store is not None and run_id is not None else None,
        on_release=record_release if store is not None and run_id is not None else None,
        **hub_options,
    )
    if store is not None and run_id is not None:
        presence = PresenceRecorder(hub, store, run_id, interval=max(heartbeat_interval, 1.0))
    return hub, record_event


class _RoundTraffic:
    """The deployment's per-round hooks for :meth:`Coordinator.run`: before a round, wait for
    dropped parties; after it, log and record who reported and the bytes on the wire."""

    def __init__(
        self,
        hub: GrpcHub,
        rounds: int,
        record_event: Callable[[str, str], None],
        expected: Sequence[str] | None,
        rejoin_wait: float,
        first_round: int,
        progress: ProgressFn | None,
        record_traffic: Callable[[int, int], None] | None = None,
        live_parties: LiveParties | None = None,
    ) -> None:
        self._hub = hub
        self._live_parties = live_parties
        self._record_traffic = record_traffic
        self._rounds = rounds
        self._record_event = record_event
        self._expected = expected
        self._rejoin_wait = rejoin_wait
        self._first_round = first_round
        self._progress = progress
        self._retries: dict[int, int] = defaultdict(int)
        self._before = (0, 0)

    def retry_round(self, server_round: int, failure: RoundShortOfClients) -> bool:
        """Run a round that fell short again if the parties that lost their link during it
        (or, for a round that could not start, the expected parties not connected: those
        that lost their link, and those admitted mid-run that have not joined yet) come
        within ``rejoin_wait`` seconds - at most :data:`ROUND_RETRIES` times."""
        lost, pending = self.missing(failure)
        if (
            not (lost or pending)
            or self._rejoin_wait <= 0
            or self._retries[server_round] >= ROUND_RETRIES
        ):
            return False
        self._retries[server_round] += 1
        who, come = _missing_text(lost, pending), "join" if pending else "rejoin"
        text = (
            f"round {server_round} fell short: {who}; waiting up to {self._rejoin_wait:g}s "
            f"for them to {come}, then running the round again"
        )
        log.warning(text)
        self._record_event("warning", text)
        if not self._hub.wait_for_parties([*lost, *pending], None, self._rejoin_wait):
            return False
        names = ", ".join(sorted([*lost, *pending]))
        self._record_event("info", f"round {server_round} runs again: {names} {come}ed")
        return True

    def missing(
        self, failure: RoundShortOfClients, *, revoked_too: bool = False
    ) -> tuple[list[str], list[str]]:
        """Who a round that fell short lacks, sorted: the parties that lost their link, and
        those admitted mid-run that have not joined yet (a round that could not start: the
        expected parties not connected); a party known revoked only with ``revoked_too``."""
        lost = sorted(c for c, why in failure.failures.items() if lost_link(why))
        if not failure.failures and self._expected:
            lost = sorted(set(self._expected) - set(self._hub.client_ids()))
        if not revoked_too:
            revoked = self._hub.revoked_parties()  # not coming back
            lost = [c for c in lost if c not in revoked]
        admitted = self._live_parties.admitted if self._live_parties is not None else ()
        pending = set(self._hub.never_joined(admitted))
        return [c for c in lost if c not in pending], [c for c in lost if c in pending]

    @property
    def expected(self) -> Sequence[str] | None:
        """The run's parties now (None: any names)."""
        return self._expected

    def before_round(self, server_round: int) -> None:
        """Apply the operator's pending party requests, give dropped parties
        ``rejoin_wait`` seconds to return (not those dropped for a revoked certificate, nor
        parties admitted mid-run that have not joined yet), then note the traffic."""
        admitted: Collection[str] = ()
        if self._live_parties is not None:
            self._live_parties.apply(server_round - 1)
            self._expected = self._live_parties.parties
            admitted = self._hub.never_joined(self._live_parties.admitted)
        if server_round > self._first_round and self._expected and self._rejoin_wait > 0:
            revoked = self._hub.revoked_parties()  # dropped for good: not waited for each round
            awaited = [p for p in self._expected if p not in revoked and p not in admitted]
            self._hub.wait_for_parties(awaited, None, self._rejoin_wait)
        self._hub.exchange_context = f"round {server_round}"  # named by a waiting notice
        self._before = self._hub.traffic()

    def after_round(self, record: RoundRecord) -> None:
        """Log and record the round and the traffic so far, then report progress."""
        received, sent = self._hub.traffic()
        text = (
            f"{round_summary(record, self._rounds, 'parties')}; "
            f"sent {_size(sent - self._before[1])}, received {_size(received - self._before[0])}"
        )
        log.info(text)
        self._record_event("info", text)
        if self._record_traffic is not None:  # kept after each round: a crash loses no round's
            self._record_traffic(received, sent)
        if self._progress is not None:
            self._progress(record)


def wait_to_start(
    hub: GrpcHub,
    parties: Sequence[str] | None,
    quorum: int | None,
    deadline: float,
    record_event: Callable[[str, str], None],
) -> None:
    """Block until every one of ``parties`` joined, or - once ``deadline`` seconds passed -
    at least ``quorum`` of them (without named parties: ``quorum`` of any names). A party
    whose certificate the hub knows is revoked (:meth:`GrpcHub.revoked_parties`) is not
    waited for, and a ``quorum`` of None asks for all the others.

    Raises
    ------
    RoundFailure
        If the deadline passed with fewer than ``quorum``; names who was missing, who
        joined and who is revoked.
    """
    if parties is not None and _all_not_revoked_joined(hub, parties, deadline):
        return
    revoked = sorted(set(parties or ()) & hub.revoked_parties())
    if parties is not None:
        parties = [p for p in parties if p not in revoked]
    if quorum is None:
        quorum = len(parties or ())
    if parties is None and hub.wait_for_parties(None, quorum, deadline):
        return
    joined = hub.client_ids()
    if parties is None:
        raise RoundFailure(
            f"only {len(joined)} of {quorum} parties joined in {deadline:g}s "
            f"(joined: {', '.join(joined) or 'none'})"
        )
    missing = sorted(set(parties) - set(joined))
    present = sorted(set(parties) & set(joined))
    strangers = sorted(set(joined) - set(parties))
    extra = f"; also connected, not expected: {', '.join(strangers)}" if strangers else ""
    extra += f"; revoked, not waited for: {', '.join(revoked)}" if revoked else ""
    if len(present) >= quorum:
        text = (
            f"starting without {', '.join(missing)} (not joined after {deadline:g}s; "
            f"{len(present)} of {len(parties)} parties joined, quorum {quorum}){extra}"
        )
        log.warning(text)
        record_event("warning", text)
        return
    raise RoundFailure(
        f"parties missing after {deadline:g}s: {', '.join(missing)} (joined: "
        f"{', '.join(present) or 'none'}; the run needs {quorum} of {len(parties)}){extra}"
    )


def _all_not_revoked_joined(hub: GrpcHub, parties: Sequence[str], deadline: float) -> bool:
    """Wait up to ``deadline`` seconds for every one of ``parties`` the hub does not know
    is revoked, looking again each second at whom it knows is (the list may change while it
    waits); True once they joined.

    Raises
    ------
    RoundFailure
        If every one of them is revoked.
    """
    end = time.monotonic() + deadline
    while True:
        awaited = [p for p in parties if p not in hub.revoked_parties()]
        if not awaited:
            raise RoundFailure(
                f"every party of the run holds a revoked certificate: {', '.join(parties)}"
            )
        remaining = end - time.monotonic()
        if hub.wait_for_parties(awaited, None, max(0.0, min(remaining, 1.0))):
            return True
        if remaining <= 1.0:
            return False


ROUND_RETRIES = 3
"""Most times a deployed round that fell short runs again (see ``rejoin_wait``)."""


class PartiesLost(RoundFailure):
    """A deployed run lacks parties it needs - a round fell short because parties lost their
    link, or a resumed run's parties did not rejoin before the start deadline: the run ends
    ``interrupted``, resumable from its last checkpoint (``--resume RUN``)."""


def _missing_text(lost: Sequence[str], pending: Sequence[str]) -> str:
    """Who a round lacks, in words: ``lost`` lost the link, ``pending`` (admitted mid-run)
    have not joined yet."""
    said = [f"{', '.join(lost)} lost the link"] if lost else []
    if pending:
        said.append(f"{', '.join(pending)}, admitted mid-run, not joined yet")
    return "; ".join(said)


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB"


InterruptionT = TypeVar("InterruptionT", bound=Exception)


def _interruption(
    run: Run, error: type[InterruptionT], cause: BaseException, until: str, *, again: bool = False
) -> InterruptionT:
    """The error that leaves ``run`` interrupted, to be resumed once ``until``: the run
    record takes it as resumable (its checkpoints stand) and the message says how to resume."""
    run.resumable_errors = (error,)
    if again:  # a resumed run that could not start
        return error(
            f"{cause}; the run stays interrupted: resume it again once {until} "
            f"(--resume {run.run_id})"
        )
    hint = f" (--resume {run.run_id})" if run.run_id else ""
    return error(f"{cause}; the run is interrupted: resume it once {until}{hint}")


def serve_coordinator(
    strategy: Strategy,
    initial_parameters: Parameters,
    rounds: int,
    listen: str,
    security: HubSecurity,
    *,
    parties: Sequence[str] | None = None,
    min_parties: int | None = None,
    join_timeout: float = 300.0,
    rejoin_wait: float = 0.0,
    round_timeout: float | None = None,
    stragglers: StragglerWait | None = DEFAULT_STRAGGLERS,
    seed: int = 0,
    store: RunStore | None = None,
    run_name: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    resume: str | None = None,
    heartbeat_interval: float = 2.0,
    heartbeat_timeout: float | None = None,
    observers: Sequence[RoundObserver] = (),
    progress: bool | ProgressFn | None = None,
    on_listening: Callable[[GrpcHub], None] | None = None,
    workflow: FitWorkflow | None = None,
    checks: ResultChecks | None = None,
    slow_after: int = 3,
    slow_rounds: int = 5,
    max_message_bytes: int | None = None,
    party_memory_budget: int | None = None,
    farewell: float = 10.0,
    on_event: Callable[[str, str], None] | None = None,
    checkpoints: CheckpointRetention | None = None,
    rounds_in_memory: int = ROUNDS_IN_MEMORY,
) -> History:
    """Serve ``rounds`` rounds of ``strategy`` to parties connecting to ``listen``.

    The rounds are the simulation's round loop (:meth:`Coordinator.run`) over the gRPC hub.

    Parameters
    ----------
    strategy, initial_parameters, rounds
        What to train, from where, for how many rounds.
    listen, security
        ``HOST:PORT`` and the hub's TLS material and allow-list.
    parties
        The parties to wait for: round 1 starts once every one of them joined (or, after
        ``join_timeout``, once ``min_parties`` of them have); one whose certificate the hub
        knows is revoked is not waited for. With a ``store``, the operator may change them
        while the run goes on (:meth:`~rengo.tracking.RunStore.request_party_change`,
        applied before the next round: see :mod:`rengo.deploy.live_parties`).
    min_parties
        The quorum: with ``parties``, how many of them suffice once ``join_timeout``
        passed (default: all); without, start once this many parties of any names joined
        (default: the strategy's ``min_available_clients``).
    join_timeout
        The start deadline, in seconds.
    rejoin_wait
        Seconds to wait before each later round for expected parties that dropped; and,
        when a round falls short because parties lost their link during it (a party
        restarted mid-round), for those to rejoin before the round runs again from the
        state before it (at most :data:`ROUND_RETRIES` times).
    round_timeout
        Seconds a party may take per exchange.
    stragglers
        Once half of an exchange's parties answered, how long the rest may take (default:
        ten times as long as that half took, at least 60 s more; see
        :class:`~rengo.transport.straggler.StragglerWait`). A party that takes the round's
        request and never answers would otherwise hold the run for ``round_timeout``, or
        forever without one. ``None``: wait for every party up to ``round_timeout``.
    seed
        The run seed (sampling, client seeds, aggregation randomness).
    store
        The run store; the run is recorded as kind ``"hfl-deployed"``.
    run_name, run_config
        The recorded run's name and extra settings.
    resume
        Id of an interrupted ``hfl-deployed`` run in ``store`` to continue from its latest
        checkpoint, with the settings it was recorded with (strategy, rounds, seed,
        ``run_config``; ``listen`` may differ). ``parties`` may differ too: parties
        admitted or taken out since take part, or not, from the next round on, and the run
        records the change (its ``parties`` and ``party_changes``; see
        :meth:`rengo.tracking.RunStore.change_parties`).
    heartbeat_interval
        Seconds between the hub's liveness checks.
    heartbeat_timeout
        Seconds without a whole frame from a party before it is dropped (default: five
        heartbeat intervals); a payload chunk (256 KiB) must cross its link within it.
    observers
        As for :func:`rengo.hfl.simulate`.
    progress
        As for :func:`rengo.hfl.simulate`: True shows a progress bar over the rounds that
        also counts the parties' replies inside a round (``round 2: fit 2/3``); a callable
        is called with each round's record; None or False: nothing.
    on_listening
        Called with the hub once it listens (tests read its port).
    workflow
        The rounds' fit stage (default: one exchange per party). Signed secure aggregation
        (``SecAggPlus(signed=True)``) checks the parties' certificates against the hub's
        federation CA unless given another.
    checks
        The checks of every fit result (default :class:`ResultChecks`: claims capped at 3x
        the round's median, updates beyond 10x the median norm refused; under secure
        aggregation, which shows only the sum, the absolute bounds alone - each claim is
        then bounded by ``SecAgg.max_examples``).
    slow_after, slow_rounds
        A party that misses ``round_timeout`` (or is cut off as a straggler) ``slow_after``
        rounds in a row sits out the next ``slow_rounds`` rounds (``slow_after=0``: always
        wait).
    max_message_bytes
        Largest message a party may send (default :func:`message_limit`: about twice the
        model).
    party_memory_budget
        Most bytes the hub holds for one party (default: one largest message plus 64 MiB).
    farewell
        Seconds to keep telling parties that lost their link before the end that the run
        finished, when some did.
    on_event
        Called with ``(level, message)`` for every hub event - a party joined, left, was
        refused - and every round's line (``rengo coordinator`` prints the info-level
        ones; warnings and errors are logged as well, and shown once by the log handler).
    checkpoints
        Which rounds' checkpoints to keep (default: the latest, all resume needs).
    rounds_in_memory
        With a ``store``: how many of the latest rounds the returned history holds (the
        store keeps every round; :attr:`~rengo.hfl.History.earlier_rounds` counts the
        others), so a run of weeks holds no memory copy of every round. Without a store the
        history holds every round (nothing else records them).

    Returns
    -------
    History
        The rounds run here (none when a resumed run was already complete, or had already
        stopped early - early stopping decided after its last checkpoint: then
        :attr:`~rengo.hfl.History.stopped` says why, and no party is waited for; with a
        store, the latest ``rounds_in_memory`` of them).

    Raises
    ------
    ConfigError
        For ``rounds < 1`` or ``rounds_in_memory < 1``, a quorum larger than the parties, a
        ``listen`` that is not ``HOST:PORT`` or cannot be bound (nothing is recorded), or
        ``resume`` without a store, of a run that is not an interrupted ``hfl-deployed`` run,
        or of one recorded with other settings (each entry but :data:`RESUME_MAY_CHANGE`; the
        run stays interrupted), or a resume that takes parties out of the run while
        ``security`` would still admit them (an allow-list of any certified name, or one
        naming them: nothing is recorded), or ``parties`` whose rounds the ``workflow`` or
        an observer would refuse (SecAgg+ with fewer than 3 clients a round, exact "mr"
        contribution values with more than 12: nothing is recorded).
    RoundFailure
        If too few parties join a new run before the deadline, or a round fails; the run
        is then recorded ``failed``.
    PartiesLost
        (A RoundFailure.) If a round fell short because parties lost their link and they
        did not rejoin within ``rejoin_wait``, or too few parties joined a resumed run
        before the deadline: the run is recorded ``interrupted``, the parties are not told
        goodbye (they keep retrying), and ``resume`` continues it after its last
        checkpoint.
    StoreUnwritableError, StoreBusyError
        If the run store cannot be written mid-run (its disk full, read-only, its write
        lock held by another process for over 30 s): the run
        stays ``interrupted`` with the rounds and checkpoints written before, the parties
        keep retrying, and ``resume`` continues it once the store can be written.
    """
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    if rounds_in_memory < 1:
        raise ConfigError(f"rounds_in_memory must be >= 1, got {rounds_in_memory}")
    expected = sorted(parties) if parties is not None else None
    if expected is not None and not expected:
        raise ConfigError("parties must name at least one party (or be None: any parties)")
    if min_parties is not None and min_parties < 1:
        raise ConfigError(f"min_parties must be >= 1, got {min_parties}")
    if expected is not None and min_parties is not None and min_parties > len(expected):
        raise ConfigError(f"min_parties={min_parties} exceeds the {len(expected)} parties")
    _trust_federation_ca(workflow, security)
    check_privacy_fits(strategy, workflow, initial_parameters)  # before a run is recorded
    check_observers_fit(strategy, workflow, observers)
    if expected is not None:  # its rounds sample from these (a quorum starts with fewer)
        for name in ("min_available_clients", "min_fit_clients"):
            needed = int(getattr(strategy, name))
            if needed > len(expected):  # no round could ever run
                raise ConfigError(
                    f"{strategy.name}'s {name}={needed} exceeds the {len(expected)} parties "
                    f"named ({', '.join(expected)}): no round could run; lower it or name more"
                )
        check_round_clients_fit(strategy, workflow, observers, len(expected))
    # with named parties and no min_parties: all of them (but those known revoked)
    quorum = min_parties or (None if expected else strategy.min_available_clients)
    config = {
        "strategy": strategy.name,
        "rounds": rounds,
        "executor": "grpc",
        "listen": listen,
        "seed": seed,
        **({"parties": expected} if expected is not None else {}),
        **(run_config or {}),
        **compression_settings(workflow),
        **privacy_settings(strategy, workflow),  # last: what ran, whatever a caller named
    }
    check_can_listen(listen)  # a port in use records no run
    recorded: Mapping[str, Any] = {}
    if resume is not None and store is not None:
        with contextlib.suppress(LookupError):  # an unknown run: refused as such by the resume
            recorded = store.get_run(resume).config
    if expected is not None:
        _check_removed_parties_refused(recorded, resume, expected, security)
    limit = max_message_bytes or message_limit(strategy, initial_parameters)
    with open_run(  # a resume with other settings is refused before the run is reopened
        store,
        RUN_KIND,
        config,
        name=run_name,
        seed=seed,
        resume=resume,
        may_change=RESUME_MAY_CHANGE,
    ) as run:
        hub, record_event = recorded_hub(
            listen,
            security,
            heartbeat_interval,
            store,
            run.run_id,
            on_event,
            max_message_bytes=limit,
            party_memory_budget=party_memory_budget,
            heartbeat_timeout=heartbeat_timeout,
            stragglers=stragglers,
            routing=False,
        )
        traffic = RunTraffic.resumed(store, run.run_id, resume)  # the totals go on
        checkpoint = None
        if store is not None and run.run_id is not None and resume is not None:
            checkpoint = store.latest_checkpoint(run.run_id)
        pool = RepliesCounted(hub)  # the replies of a round so far, for the progress bar
        coordinator = Coordinator(
            strategy,
            pool,
            initial_parameters,
            seed=seed,
            round_timeout=round_timeout,
            store=store,
            run_id=run.run_id,
            observers=observers,
            start_round=checkpoint[0] + 1 if checkpoint is not None else 1,
            workflow=workflow,
            checks=checks if checks is not None else default_checks(workflow),
            slow_after=slow_after if round_timeout is not None or stragglers is not None else 0,
            slow_rounds=slow_rounds,
            checkpoints=checkpoints or CheckpointRetention(),
        )
        if checkpoint is not None:
            # a checkpoint this job cannot take leaves the run interrupted, as it was
            run.resumable_errors = (Exception,)
            coordinator.restore(checkpoint[1])
            run.resumable_errors = ()
            log.info("resuming run %s after round %d", run.run_id, checkpoint[0])
            record_event("info", f"resumed after round {checkpoint[0]}")
        if resume is not None:
            record_release_on_resume(
                store, run.run_id, config, checkpoint[0] if checkpoint is not None else 0
            )
        moved = _moved(recorded, config) if resume is not None else None
        if moved is not None:
            log.info("%s", moved)
            record_event("info", moved)
        ended = coordinator.start_round > rounds or coordinator.already_stopped() is not None
        if resume is not None and store is not None and run.run_id and expected is not None:
            # members admitted or taken out while the run was stopped (its checkpoint
            # restored): recorded with it, unless it has no round left to take part in
            done = checkpoint[0] if checkpoint is not None else 0
            if ended:
                if set(map(str, recorded.get("parties") or ())) != set(expected):
                    text = (
                        f"parties not changed: the run had already ended after round {done} "
                        "(no round is left to take part in)"
                    )
                    log.info("%s", text)
                    record_event("info", text)
            else:
                # a request left by the stopped coordinator: the parties given now decide
                stale = recorded_party_requests(recorded)
                change = store.change_parties(run.run_id, expected, done, settled=stale)
                for request in stale:
                    text = (
                        f"the operator's request to {request.describe()} (made {request.at}) "
                        "was not applied: the run was resumed with the parties it was given"
                    )
                    log.warning("%s", text)
                    record_event("warning", text)
                if change is not None:
                    log.info("%s", change.describe())
                    record_event("info", change.describe())
        live_parties = None
        if store is not None and run.run_id is not None and expected is not None:
            live_parties = LiveParties(
                store,
                run.run_id,
                hub,
                strategy,
                min_parties,
                expected,
                record_event,
                workflow,
                observers,
            )
        bar = RoundProgressBar(
            progress or False, rounds, run_name or strategy.name, done=coordinator.start_round - 1
        )
        interrupted, outcome = False, "finished"
        with bar as report:
            pool.listener = bar.replies
            hooks = _RoundTraffic(
                hub,
                rounds,
                record_event,
                expected,
                rejoin_wait,
                coordinator.start_round,
                report,
                record_traffic=_traffic_recorder(traffic),
                live_parties=live_parties,
            )
            hub.start()
            try:
                if on_listening is not None:
                    on_listening(hub)
                if coordinator.start_round <= rounds and coordinator.already_stopped() is None:
                    try:
                        wait_to_start(hub, expected, quorum, join_timeout, record_event)
                    except RoundFailure as exc:
                        if resume is None:  # a new run that never started: nothing to keep
                            raise
                        # a resumed run keeps its checkpoints: it stays interrupted, to be
                        # resumed again once the parties are back
                        interrupted = True
                        raise _interruption(
                            run, PartiesLost, exc, "the parties are back", again=True
                        ) from exc
                history = coordinator.run(
                    rounds,
                    progress=hooks.after_round,
                    before_round=hooks.before_round,
                    retry_round=hooks.retry_round,
                    keep_rounds=rounds_in_memory if run.run_id is not None else None,
                )
                outcome = "completed"
                return history
            except KeyboardInterrupt:
                interrupted = True
                raise
            except RoundShortOfClients as exc:
                departed, pending = hooks.missing(exc, revoked_too=True)
                if not (departed or pending):  # refused results, a client that raises, ...
                    outcome = told_parties(exc)
                    raise
                # parties lost their link, or an admitted one has not joined yet: the
                # checkpoints stand, the run resumes once they are there (they keep retrying:
                # no goodbye, as for Ctrl-C)
                interrupted = True
                cause = RoundShortOfClients(f"{exc} ({_missing_text(departed, pending)})", {})
                until = "the parties are back" if departed else f"{', '.join(pending)} joined"
                raise _interruption(run, PartiesLost, cause, until) from exc
            except StoreWriteRefused as exc:
                # the store keeps every round and checkpoint written before (what a resume
                # needs): the run is interrupted, and the parties keep retrying, as for Ctrl-C
                interrupted = True
                raise _interruption(run, type(exc), exc, "the store can be written") from None
            except Exception as exc:
                outcome = told_parties(exc)  # the parties end with it, not with "finished"
                raise
            finally:
                # Interrupted runs are meant to be resumed: parties keep retrying. Else they
                # leave told how it ended.
                hub.close(
                    goodbye=not interrupted,
                    linger=0.0 if interrupted else farewell,
                    outcome=outcome,
                )
                run.summary.update(traffic.totals(*hub.traffic()))
                # what an observer adds (the test rows, a reliability table), as a simulation
                run.summary.update(observers_run_summary(observers))


def _check_removed_parties_refused(
    recorded: Mapping[str, Any], resume: str | None, parties: Sequence[str], security: HubSecurity
) -> None:
    """Refuse a resume that takes parties out of the run while the hub would still admit
    them (an allow-list of any name the CA certified, or one naming them): the run would
    record them removed and go on counting their updates.

    Raises
    ------
    ConfigError
        Naming the removed parties the hub admits (nothing is recorded).
    """
    before = recorded.get("parties")
    if not isinstance(before, list):
        return
    removed = sorted(set(map(str, before)) - set(parties))
    admitted = removed if security.parties is None else sorted(security.parties & set(removed))
    if admitted:
        raise ConfigError(
            f"resuming run {resume} without {', '.join(admitted)}, whom the coordinator's "
            "allow-list still admits (HubSecurity parties: "
            f"{'any certified name' if security.parties is None else sorted(security.parties)}"
            "): give HubSecurity(parties=...) the run's parties, as `rengo coordinator` does"
        )


def _traffic_recorder(traffic: RunTraffic) -> Callable[[int, int], None]:
    """What keeps a deployed run's traffic in the store after each round (a crash then
    loses no completed round's bytes)."""

    def record(received: int, sent: int) -> None:
        with contextlib.suppress(StoreClosedError, StoreWriteRefused):  # the round loop says
            traffic.keep(received, sent)

    return record


def _moved(recorded: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """What a resumed coordinator serves from elsewhere than the run started (another
    address, a job file at another path: a coordinator moved to another machine), as an
    event's text; None when nothing moved."""
    moved = [
        f"{what} {config[key]} (was {recorded[key]})"
        for key, what in (("listen", "listening on"), ("job_file", "job file"))
        if key in recorded and key in config and recorded[key] != config[key]
    ]
    return f"the coordinator moved: {'; '.join(moved)}" if moved else None


def told_parties(failure: BaseException) -> str:
    """How a failed run ends, as every party is told: the round and the kind of failure,
    not the coordinator's reason, which names other parties and quotes their errors (a
    party's exception text may hold its data)."""
    if isinstance(failure, RoundFailure):
        head = str(failure).split(":", 1)[0]  # "round 3 failed"
        return f"failed ({head}; the coordinator's operator has the reason)"
    return f"failed ({type(failure).__name__}; the coordinator's operator has the reason)"


RESUME_MAY_CHANGE = frozenset({"listen", "job_file", "bundled_data", "parties", DP_ACCOUNTING})
"""Run config entries a resume may change: the coordinator may listen elsewhere and read its
job file from another path (a coordinator moved to another machine: the job's settings,
``job_settings``, must still be the run's), run a later rengo release than the one that
shipped the bundled dataset its job names or another ``dp-accounting`` release (recorded
anew, see :func:`~rengo.hfl.privacy_record.record_release_on_resume`), and serve other
parties (members admitted or taken out while it was stopped: recorded with the run, see
:mod:`rengo.tracking.party_changes`)."""


def _trust_federation_ca(workflow: FitWorkflow | None, security: HubSecurity) -> None:
    """Give signed secure aggregation the federation CA the hub authenticates parties with.

    Raises
    ------
    ConfigError
        If the round is signed and the hub authenticates parties by token (no certificates).
    """
    if not isinstance(workflow, SecAggPlus) or not workflow.config.signed or workflow.ca:
        return
    if security.mode != "mtls" or security.ca_cert is None:
        raise ConfigError(
            "signed secure aggregation needs parties with certificates from the federation CA "
            f"(mTLS); this hub authenticates by {security.mode}"
        )
    workflow.ca = security.ca_cert


# serve_role (any protocol's roles over gRPC) moved to rengo.deploy.roles.
__getattr__ = moved_names(__name__, {"serve_role": "rengo.deploy.roles"})
