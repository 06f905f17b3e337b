"""The deployed coordinator: a gRPC hub plus the same round loop simulation uses.

``serve_coordinator`` listens for parties, waits for enough of them, runs the rounds with the
simulation's round loop, and records joins, leaves, rounds, traffic and a checkpoint per
round in the run store (one run lifecycle, :func:`rengo.tracking.open_run`); with
``resume=RUN_ID`` it continues a crashed run from its last checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rengo.core.deprecation import moved_names
from rengo.core.errors import ConfigError, RoundFailure
from rengo.core.parameters import Parameters
from rengo.deploy.presence import PresenceRecorder
from rengo.hfl.checkpoints import CheckpointRetention
from rengo.hfl.coordinator import Coordinator, History, ProgressFn, RoundObserver, RoundRecord
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.workflow import FitWorkflow
from rengo.tracking.run import open_run
from rengo.tracking.store import RunStore
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_security import HubSecurity

log = logging.getLogger("rengo.deploy")

RUN_KIND = "hfl-deployed"


def recorded_hub(
    listen: str,
    security: HubSecurity,
    heartbeat_interval: float,
    store: Any,
    run_id: str | None,
    on_event: Callable[[str, str], None] | None = None,
) -> tuple[GrpcHub, Callable[[str, str], None]]:
    """A hub whose join/leave/refusal events land in ``store`` under ``run_id`` (and go to
    ``on_event``), with who is online kept current there (see :class:`PresenceRecorder`),
    and the recorder itself for the caller's own events (a no-op without a store)."""

    presence: PresenceRecorder | None = None

    def record_event(level: str, message: str) -> None:
        if on_event is not None:
            on_event(level, message)
        if store is not None and run_id is not None:
            store.log_event(run_id, level, message)
        if presence is not None:  # joins, leaves and the final close: who is online now
            presence.refresh()

    hub = GrpcHub(
        listen,
        security,
        heartbeat_interval=heartbeat_interval,
        run_id=run_id or "",
        on_event=record_event,
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
    ) -> None:
        self._hub = hub
        self._rounds = rounds
        self._record_event = record_event
        self._expected = expected
        self._rejoin_wait = rejoin_wait
        self._first_round = first_round
        self._progress = progress
        self._before = (0, 0)

    def before_round(self, server_round: int) -> None:
        """Give dropped parties ``rejoin_wait`` seconds to return, then note the traffic."""
        if server_round > self._first_round and self._expected and self._rejoin_wait > 0:
            self._hub.wait_for_parties(self._expected, None, self._rejoin_wait)
        self._before = self._hub.traffic()

    def after_round(self, record: RoundRecord) -> None:
        """Log and record the round, then report progress."""
        received, sent = self._hub.traffic()
        reported = len(record.clients) - len(record.failures)
        shown = [
            f"{key} {record.metrics[key]:.4f}"
            for key in ("train_loss", "central_accuracy", "eval_accuracy")
            if key in record.metrics
        ]
        dropped = f"; dropped {', '.join(sorted(record.failures))}" if record.failures else ""
        text = (
            f"round {record.server_round}/{self._rounds}: {reported} of "
            f"{len(record.clients)} parties reported in {record.duration_s:.2f}s"
            + (f", {', '.join(shown)}" if shown else "")
            + f"{dropped}; sent {_size(sent - self._before[1])}, "
            f"received {_size(received - self._before[0])}"
        )
        log.info(text)
        self._record_event("info", text)
        if self._progress is not None:
            self._progress(record)


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB"


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
    seed: int = 0,
    store: RunStore | None = None,
    run_name: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    resume: str | None = None,
    heartbeat_interval: float = 2.0,
    observers: Sequence[RoundObserver] = (),
    progress: ProgressFn | None = None,
    on_listening: Callable[[GrpcHub], None] | None = None,
    workflow: FitWorkflow | None = None,
    on_event: Callable[[str, str], None] | None = None,
    checkpoints: CheckpointRetention | None = None,
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
        The parties to wait for; round 1 starts once every one of them is connected.
    min_parties
        Or start once this many (any names) are connected.
    join_timeout
        Seconds to wait for them before round 1.
    rejoin_wait
        Seconds to wait before each later round for expected parties that dropped.
    round_timeout
        Seconds a party may take per exchange.
    seed
        The run seed (sampling, client seeds, aggregation randomness).
    store
        The run store; the run is recorded as kind ``"hfl-deployed"``.
    run_name, run_config
        The recorded run's name and extra settings.
    resume
        Id of a run in ``store`` to continue from its latest checkpoint.
    heartbeat_interval
        Seconds between the hub's liveness checks.
    observers, progress
        As for :func:`rengo.hfl.simulate`.
    on_listening
        Called with the hub once it listens (tests read its port).
    workflow
        The rounds' fit stage (default: one exchange per party).
    on_event
        Called with ``(level, message)`` for every hub event - a party joined, left, was
        refused - and every round's line (``rengo coordinator`` prints them).
    checkpoints
        Which rounds' checkpoints to keep (default: the latest, all resume needs).

    Returns
    -------
    History
        The rounds run here (none when a resumed run was already complete).

    Raises
    ------
    ConfigError
        For ``rounds < 1``, or ``resume`` without a store or of a run of another kind.
    RoundFailure
        If too few parties join, or a round fails.
    """
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    expected = sorted(parties) if parties is not None else None
    needed = min_parties or (len(expected) if expected else strategy.min_available_clients)
    config = {
        "strategy": strategy.name,
        "rounds": rounds,
        "executor": "grpc",
        "listen": listen,
        "seed": seed,
        **(run_config or {}),
    }
    with open_run(store, RUN_KIND, config, name=run_name, seed=seed, resume=resume) as run:
        hub, record_event = recorded_hub(
            listen, security, heartbeat_interval, store, run.run_id, on_event
        )
        checkpoint = None
        if store is not None and run.run_id is not None and resume is not None:
            checkpoint = store.latest_checkpoint(run.run_id)
        coordinator = Coordinator(
            strategy,
            hub,
            initial_parameters,
            seed=seed,
            round_timeout=round_timeout,
            store=store,
            run_id=run.run_id,
            observers=observers,
            start_round=checkpoint[0] + 1 if checkpoint is not None else 1,
            workflow=workflow,
            checkpoints=checkpoints or CheckpointRetention(),
        )
        if checkpoint is not None:
            coordinator.restore(checkpoint[1])
            log.info("resuming run %s after round %d", run.run_id, checkpoint[0])
            record_event("info", f"resumed after round {checkpoint[0]}")
        hooks = _RoundTraffic(
            hub, rounds, record_event, expected, rejoin_wait, coordinator.start_round, progress
        )
        interrupted = False
        hub.start()
        try:
            if on_listening is not None:
                on_listening(hub)
            if coordinator.start_round <= rounds and not hub.wait_for_parties(
                expected, needed, join_timeout
            ):
                raise RoundFailure(
                    f"only {len(hub.client_ids())} of {needed} parties joined in "
                    f"{join_timeout:g}s (connected: {', '.join(hub.client_ids()) or 'none'})"
                )
            return coordinator.run(
                rounds, progress=hooks.after_round, before_round=hooks.before_round
            )
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            # Interrupted runs are meant to be resumed: parties keep retrying. Else they leave.
            hub.close(goodbye=not interrupted)
            received, sent = hub.traffic()
            run.summary.update(bytes_sent=sent, bytes_received=received)


# serve_role (any protocol's roles over gRPC) moved to rengo.deploy.roles.
__getattr__ = moved_names(__name__, {"serve_role": "rengo.deploy.roles"})
