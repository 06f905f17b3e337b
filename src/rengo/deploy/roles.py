"""Any multi-party protocol deployed: the coordinator's role on the gRPC hub, each party's
role on its own outbound connection, every role fail-fast.

The role functions are the ones simulation runs on the in-process bus (PSI, the vertical
runner, ...); only the :class:`~rengo.transport.channel.Channel` under them changes. A role
that raises announces it on its channel before the error propagates, so every other role
stops with :class:`~rengo.core.errors.PeerFailure` naming who failed; the hub also ends the
run when a party stays away longer than ``rejoin_wait``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from rengo.core.errors import PeerFailure, ProtocolError, RoundFailure
from rengo.core.roles import COORDINATOR
from rengo.transport.channel import Channel
from rengo.transport.grpc_frames import DEFAULT_MAX_MESSAGE
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import DEFAULT_BACKOFF, Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

T = TypeVar("T")


def run_failing_fast(channel: Channel, role: Callable[[Channel], T]) -> T:
    """``role(channel)``; if it raises (or is interrupted), tell every other role first."""
    try:
        return role(channel)
    except BaseException as exc:
        channel.abort(exc)
        raise


def run_hub_role(
    hub: GrpcHub,
    role: Callable[[Channel], T],
    parties: Sequence[str],
    *,
    join_timeout: float = 300.0,
    rejoin_wait: float = 30.0,
    timeout: float | None = None,
) -> T:
    """On a started ``hub``: wait for every one of ``parties``, then run the coordinator's
    ``role`` on a channel that watches them.

    Raises
    ------
    RoundFailure
        If a party has not joined after ``join_timeout`` seconds.
    PeerFailure
        If a party aborts, or stays away longer than ``rejoin_wait`` seconds.
    """
    if not hub.wait_for_parties(parties, None, join_timeout):
        missing = sorted(set(parties) - set(hub.client_ids()))
        raise RoundFailure(f"parties missing after {join_timeout:g}s: {', '.join(missing)}")
    channel = hub.channel(watch=parties, rejoin_wait=rejoin_wait, timeout=timeout)
    return run_failing_fast(channel, role)


def serve_role(
    role: Callable[[Channel], T],
    listen: str,
    security: HubSecurity,
    parties: Sequence[str],
    *,
    join_timeout: float = 300.0,
    rejoin_wait: float = 30.0,
    timeout: float | None = None,
    heartbeat_interval: float = 2.0,
    on_listening: Callable[[GrpcHub], None] | None = None,
) -> T:
    """Run the coordinator's role of a multi-party protocol over gRPC.

    Parameters
    ----------
    role
        The coordinator's role function, ``role(channel) -> result``.
    listen
        ``HOST:PORT`` to listen on (port 0: any free port, see ``on_listening``).
    security
        How parties authenticate (mTLS certificates or tokens).
    parties
        Every party of the run.
    join_timeout
        Seconds to wait for every party.
    rejoin_wait
        Seconds a party may be away mid-run before the run fails.
    timeout
        Caps every single wait of the role.
    heartbeat_interval
        Seconds between heartbeats.
    on_listening
        Called with the hub once it listens.

    Returns
    -------
    object
        What ``role`` returned.

    Raises
    ------
    RoundFailure
        If a party did not join in time.
    PeerFailure
        If a party failed or left; every other party is told.
    """
    with GrpcHub(listen, security, heartbeat_interval=heartbeat_interval) as hub:
        if on_listening is not None:
            on_listening(hub)
        return run_hub_role(
            hub,
            role,
            parties,
            join_timeout=join_timeout,
            rejoin_wait=rejoin_wait,
            timeout=timeout,
        )


_ENDED_BY_FAILURE = re.compile(r"(run \S+|the run) ended: ")
"""A vertical coordinator's goodbye after a role failed (``run RUN ended: bank aborted the run
(ProtocolError)``, see :func:`rengo.deploy.vertical.serve_vertical_coordinator`); a run that
completed says ``run RUN finished``."""


def run_role(
    coordinator: str,
    name: str,
    role: Callable[[Channel], T],
    credentials: PartyCredentials,
    *,
    connect_timeout: float = 300.0,
    timeout: float | None = None,
    linger: float = 30.0,
    heartbeat_interval: float = 2.0,
    backoff: Backoff = DEFAULT_BACKOFF,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE,
    await_verdict: Callable[[BaseException], bool] | None = None,
    data_files: Mapping[str, str] | None = None,
    on_joined: Callable[[str | None], None] | None = None,
) -> T:
    """Run one party's role of a multi-party protocol (PSI, vertical learning) over gRPC;
    the same role function runs on the in-process bus in simulation.

    Parameters
    ----------
    coordinator
        The hub's ``HOST:PORT``.
    name
        This party's name (as in its certificate).
    role
        The party's role function, ``role(channel) -> result``.
    credentials
        Its certificate and key (or token).
    connect_timeout
        Seconds to wait for the first connection.
    timeout
        Caps every single wait of the role.
    linger
        After the role returns, seconds to wait for the coordinator to end the run, so it
        never mistakes a finished party for a lost one.
    heartbeat_interval
        Seconds between heartbeats.
    backoff
        Reconnection schedule.
    max_message_bytes
        Largest message this party accepts; what one sender has waiting unread in its
        inbox is capped at this plus 64 MiB (see
        :class:`~rengo.transport.grpc_party.PartyConnection`).
    await_verdict
        For an error of the role this returns True for (a checkpointed vertical run's
        party joins the run again after a dropped link), wait up to ``linger`` for the
        coordinator's verdict before leaving: its goodbye ends the run for good, a session
        closed without one is a run that takes its parties back. Without the wait, the
        party left before a goodbye on its way reached it, and kept joining again against
        no coordinator.
    data_files
        The data files this party trains on, ``{path: sha256 hex}``: reported to the
        coordinator at every join (this party's word; see
        :mod:`rengo.transport.data_report`). None: nothing reported.
    on_joined
        Called with the run's id (None where the coordinator records no run) each time the
        coordinator welcomes this party.

    Returns
    -------
    object
        What ``role`` returned.

    Raises
    ------
    AuthenticationError
        If the coordinator refuses this party.
    PeerFailure
        If another role failed or left, also after this party's role returned (the
        coordinator's goodbye says the run failed: this party's part is no success).
    ProtocolError
        With ``await_verdict``: if the coordinator ended the run after the role stopped
        (saying how, chained from the role's error).
    """
    with PartyConnection(
        coordinator,
        name,
        credentials,
        heartbeat_interval=heartbeat_interval,
        backoff=backoff,
        max_message_bytes=max_message_bytes,
        data_files=data_files,
        on_welcome=on_joined,
    ) as connection:
        connection.wait_connected(connect_timeout)
        try:
            result = run_failing_fast(connection.channel(timeout=timeout), role)
        except Exception as exc:
            if await_verdict is not None and await_verdict(exc):
                _await_verdict(connection, linger, exc)
            raise
        deadline = time.monotonic() + linger
        while not connection.ended and connection.error is None:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if connection.run_failed or _ENDED_BY_FAILURE.match(connection.farewell or ""):
            # another role failed after this one's last step: this party's part failed too
            raise PeerFailure(COORDINATOR, "run failed", f"{name}: {connection.farewell}")
    return result


def _await_verdict(connection: PartyConnection, seconds: float, stopped: Exception) -> None:
    """Wait up to ``seconds`` for the coordinator to end the run (its goodbye) or close the
    session without one, after this party's role ``stopped``.

    Raises
    ------
    ProtocolError
        If the coordinator ended the run: how it said it did, from ``stopped``.
    """
    deadline = time.monotonic() + seconds
    while not connection.ended and connection.connected and connection.error is None:
        if time.monotonic() >= deadline:
            return
        time.sleep(0.05)
    if connection.ended:
        said = f": {connection.farewell}" if connection.farewell else ""
        raise ProtocolError(f"{connection.name}: the coordinator ended the run{said}") from stopped
