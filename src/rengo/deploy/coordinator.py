"""The deployed coordinator: a gRPC hub plus the same round loop simulation uses.

``serve_coordinator`` listens for parties, waits for enough of them, runs the rounds, and
records joins, leaves, rounds, traffic and a checkpoint per round in the run store; with
``resume=RUN_ID`` it continues a crashed run from its last checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rengo.core.errors import ConfigError, RoundFailure
from rengo.core.parameters import Parameters
from rengo.deploy.presence import PresenceRecorder
from rengo.hfl.coordinator import Coordinator, History, ProgressFn, RoundObserver
from rengo.hfl.strategy.base import Strategy
from rengo.transport.channel import Channel
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_security import HubSecurity

log = logging.getLogger("rengo.deploy")

RUN_KIND = "hfl-deployed"


def _open_run(
    store: Any,
    resume: str | None,
    strategy: Strategy,
    rounds: int,
    listen: str,
    seed: int,
    run_name: str | None,
    run_config: Mapping[str, Any] | None,
) -> str | None:
    if store is None:
        if resume is not None:
            raise ConfigError("resume needs the run store the run was recorded in")
        return None
    if resume is not None:
        return str(store.resume_run(resume).run_id)
    config = {
        "strategy": strategy.name,
        "rounds": rounds,
        "executor": "grpc",
        "listen": listen,
        "seed": seed,
        **(run_config or {}),
    }
    return str(store.start_run(RUN_KIND, config, name=run_name, seed=seed))


def recorded_hub(
    listen: str, security: HubSecurity, heartbeat_interval: float, store: Any, run_id: str | None
) -> tuple[GrpcHub, Callable[[str, str], None]]:
    """A hub whose join/leave/refusal events land in ``store`` under ``run_id``, with who is
    online kept current there (see :class:`PresenceRecorder`), and the recorder itself for
    the caller's own events (a no-op without a store)."""

    presence: PresenceRecorder | None = None

    def record_event(level: str, message: str) -> None:
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
    store: Any = None,
    run_name: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    resume: str | None = None,
    heartbeat_interval: float = 2.0,
    observers: Sequence[RoundObserver] = (),
    progress: ProgressFn | None = None,
    on_listening: Callable[[GrpcHub], None] | None = None,
) -> History:
    """Serve ``rounds`` rounds of ``strategy`` to parties connecting to ``listen``.

    Round 1 starts once every name in ``parties`` (or ``min_parties`` of any) is connected,
    waiting at most ``join_timeout`` s. Before each later round the hub waits up to
    ``rejoin_wait`` s for every expected party to be back. ``store`` is a
    :class:`rengo.tracking.RunStore`; ``resume`` is the id of a run in it to continue from
    its latest checkpoint. Returns the :class:`History` of the rounds run here.
    """
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    expected = sorted(parties) if parties is not None else None
    needed = min_parties or (len(expected) if expected else strategy.min_available_clients)
    run_id = _open_run(store, resume, strategy, rounds, listen, seed, run_name, run_config)

    hub, record_event = recorded_hub(listen, security, heartbeat_interval, store, run_id)
    start_round = 1
    checkpoint = store.latest_checkpoint(run_id) if resume is not None else None
    if checkpoint is not None:
        start_round = checkpoint[0] + 1
    coordinator = Coordinator(
        strategy,
        hub,
        initial_parameters,
        seed=seed,
        round_timeout=round_timeout,
        store=store,
        run_id=run_id,
        observers=observers,
        start_round=start_round,
    )
    if checkpoint is not None:
        coordinator.restore(checkpoint[1])
        log.info("resuming run %s after round %d", run_id, checkpoint[0])
        record_event("info", f"resumed after round {checkpoint[0]}")
    history = History(run_id=run_id, parameters=coordinator.parameters)
    status = "failed"
    started = time.perf_counter()
    hub.start()
    try:
        if on_listening is not None:
            on_listening(hub)
        if coordinator.start_round <= rounds and not hub.wait_for_parties(
            expected, needed, join_timeout
        ):
            raise RoundFailure(
                f"only {len(hub.client_ids())} of {needed} parties joined in {join_timeout:g}s "
                f"(connected: {', '.join(hub.client_ids()) or 'none'})"
            )
        for server_round in range(coordinator.start_round, rounds + 1):
            if server_round > coordinator.start_round and expected and rejoin_wait > 0:
                hub.wait_for_parties(expected, None, rejoin_wait)
            received, sent = hub.traffic()
            record = coordinator.run_round(server_round)
            received2, sent2 = hub.traffic()
            text = (
                f"round {server_round}/{rounds}: {len(record.clients) - len(record.failures)} of "
                f"{len(record.clients)} parties reported in {record.duration_s:.2f}s; "
                f"sent {sent2 - sent} B, received {received2 - received} B"
            )
            log.info(text)
            record_event("info", text)
            history.rounds.append(record)
            history.parameters = coordinator.parameters
            if progress is not None:
                progress(record)
        history.parameters = coordinator.parameters
        status = "completed"
        return history
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        # Interrupted runs are meant to be resumed: parties keep retrying. Otherwise they leave.
        hub.close(goodbye=status != "interrupted")
        if store is not None and run_id is not None:
            received, sent = hub.traffic()
            store.finish_run(
                run_id,
                status,
                {
                    "wall_time_s": time.perf_counter() - started,
                    "bytes_sent": sent,
                    "bytes_received": received,
                },
            )


def serve_role(
    role: Callable[[Channel], Any],
    listen: str,
    security: HubSecurity,
    parties: Sequence[str],
    *,
    join_timeout: float = 300.0,
    heartbeat_interval: float = 2.0,
    on_listening: Callable[[GrpcHub], None] | None = None,
) -> Any:
    """Run the coordinator's role of a multi-party protocol (vertical FL) over gRPC.

    Waits for every party in ``parties``, calls ``role(channel)`` and returns its result;
    the hub routes the parties' messages to one another meanwhile.
    """
    with GrpcHub(listen, security, heartbeat_interval=heartbeat_interval) as hub:
        if on_listening is not None:
            on_listening(hub)
        if not hub.wait_for_parties(parties, None, join_timeout):
            raise RoundFailure(f"parties missing after {join_timeout:g}s: {hub.client_ids()}")
        return role(hub.channel())
