"""The coordinator's gRPC hub: parties connect outbound to it, it serves them work.

Each party opens one bidirectional stream. The hub authenticates it (mTLS certificate or
token, see :mod:`rengo.transport.grpc_security`), then pushes requests down the stream and
reads replies and heartbeats up it. :class:`GrpcHub` is a
:class:`~rengo.transport.pool.ClientPool` - the round loop cannot tell it from a simulation
executor - and also routes party-to-party messages for vertical protocols (a party's
:class:`~rengo.transport.grpc_party.GrpcChannel`; the coordinator's own role uses
:meth:`GrpcHub.channel`).

Every envelope's sender must equal the authenticated name; a party that breaks that, sends
malformed frames or stops sending heartbeats is disconnected with a log line and fails its
pending requests. It may reconnect and take part in later rounds.

Multi-party protocols get the channel failure contract: a party's abort is passed on to
every other party and fails the coordinator's waits; the coordinator's own channel also
watches the run's parties and, once one has been gone longer than ``rejoin_wait``, ends the
run for everyone. A failure ends every channel of this hub: one hub serves one run.

No authenticated party can starve the hub:

* nothing is allocated for a stream before it authenticated and said hello (until then only
  small whole frames are read), and a connection that does not finish its TLS handshake or
  holds no stream, or a stream that does not say hello, within ``handshake_timeout`` is
  closed;
* a party has at most ``max_streams_per_party`` streams open and one live session: a second
  instance of the same party replaces the first, which is told so and stops (it does not
  take the link back, so two instances cannot keep replacing each other);
* a message may declare at most ``max_message_bytes`` and its buffer grows only as chunks
  arrive; everything the hub holds for one party - the message it is receiving, what it
  sent that nobody has read yet, and what waits to be sent to it - is capped by
  ``party_memory_budget``, past which that party is disconnected with the reason;
* a hub that does not route (``routing=False``: a horizontal run's parties talk only to the
  round loop) drops and logs every other message, and a party that left for good has its
  queues freed;
* events a party can repeat at will (its joins and leaves, refused streams and connections)
  are recorded the first 20 times, then at the 100th, 1000th and every 10000th, saying how
  many (:mod:`rengo.transport.repeated_events`), so reconnecting in a loop cannot flood the
  operator's console or the run store.
"""

from __future__ import annotations

import functools
import itertools
import logging
import queue
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from weakref import ref

import grpc

from rengo.core.codec import decode_owned, encode
from rengo.core.envelope import Envelope, message_key
from rengo.core.errors import (
    AuthenticationError,
    ChannelTimeout,
    CodecError,
    ConfigError,
    PeerFailure,
    ProtocolError,
    StalePartyError,
)
from rengo.core.roles import COORDINATOR
from rengo.transport.addresses import host_port
from rengo.transport.channel import Key, LongWait, ScopeMixin
from rengo.transport.data_report import parse_data_report
from rengo.transport.grace_calls import GraceCalls
from rengo.transport.grpc_frames import (
    DEFAULT_MAX_MESSAGE,
    INLINE_LIMIT,
    MAX_HEADER,
    PING,
    PING_FRAME,
    WHOLE,
    FrameAssembler,
    OutgoingMessage,
    PayloadOverLimit,
    check_message_limit,
    envelope_frames,
    queued_size,
)
from rengo.transport.grpc_security import HubSecurity, UnknownPartyError, warn_insecure
from rengo.transport.grpc_wire import (
    ABORT,
    BYE,
    DATA_FILES,
    HELLO,
    HELLO_LIMIT,
    METHOD,
    NOTICE,
    NOTICE_LIMIT,
    REPLY_ERROR,
    REPLY_ERROR_LIMIT,
    REPLY_OK,
    RPC_PREFIX,
    SERVER_OPTIONS,
    SERVICE,
    WELCOME,
    check_heartbeat,
    check_protocol_key,
    check_release,
    parse_hello,
    parse_rpc_key,
    party_text,
    rpc_key,
    welcome_payload,
)
from rengo.transport.pool import TIMED_OUT, Reply, Request
from rengo.transport.repeated_events import RepeatedEvents, repeat_note, worth_recording
from rengo.transport.revocation import RevokedCertificateError, revoked_reason
from rengo.transport.straggler import StragglerWait

log = logging.getLogger("rengo.transport")

EventFn = Callable[[str, str], None]
"""Receives ``(level, message)`` for joins, leaves and refusals (e.g. a run store's events)."""
DataFilesFn = Callable[[str, dict[str, str]], None]
"""Receives ``(party, {path: sha256})`` when a party reports the data it trains on."""
ReleaseFn = Callable[[str, str | None, int | None], None]
"""Receives ``(party, release, wire format)`` each time the hub admits a party's hello
(None, None: a build whose hello names neither)."""
RevokedFn = Callable[[str, int], None]
"""Receives ``(party, serial)`` when a party presents a revoked certificate (once each)."""

_MAX_UNDELIVERED = 10_000
_MAX_ABSENT = 1_024
DEFAULT_PARTY_BUDGET = 2 * 1024**3 + 64 * 1024**2
"""Default bytes the hub holds for one party at once (one largest message plus slack)."""
_STOP_GRACE_S = 5.0
"""Seconds a stopped stream may take to send its last status before it is cancelled."""
_STOP_GRACE = GraceCalls("rengo-hub-stop-grace")
"""Cancels the stopped streams still stuck after their grace: one thread for them all."""
_STRAGGLER_POLL_S = 0.2  # how often a waiting request looks whether the quorum answered
_HELLO_FRAME_LIMIT = 1 + INLINE_LIMIT + MAX_HEADER


@dataclass(frozen=True)
class _Stop:
    """Ends a session's outgoing stream: ``code`` None is a clean close."""

    code: grpc.StatusCode | None
    reason: str


@dataclass(frozen=True)
class HubParty:
    """One party as the hub sees it now: connected or, if it left, why and when.

    Times are wall-clock seconds since the epoch (``time.time()``); bytes count this
    connection's frames (the last connection's, for a party that left).
    """

    name: str
    connected: bool
    peer: str
    joined_at: float
    last_seen: float
    joins: int
    bytes_in: int
    bytes_out: int
    left_at: float | None = None
    reason: str | None = None


class _Session:
    """One party's open stream."""

    def __init__(
        self,
        name: str,
        peer: str,
        context: grpc.ServicerContext | None = None,
        serial: int | None = None,
    ) -> None:
        self.name = name
        self.peer = peer
        self.context = context
        self.serial = serial  # of the party's certificate (mTLS), checked against revocations
        self.outbox: queue.SimpleQueue[OutgoingMessage | _Stop] = queue.SimpleQueue()
        self.registered = False
        self.closed = threading.Event()
        self.served = threading.Event()
        self.opened = time.monotonic()
        self.last_seen = self.opened
        self.joined_at = time.time()
        self.bytes_in = 0
        self.bytes_out = 0
        self.receiving = 0  # payload bytes of the message being reassembled
        self.unsent = 0  # bytes queued in the outbox, not yet on the wire
        self.said_bye = False
        self.join_number = 0  # which of its party's joins this session is (from 1)

    def send(self, message: OutgoingMessage) -> bool:
        if self.closed.is_set():
            return False
        self.unsent += message.size
        self.outbox.put(message)
        return True

    def stop(self, code: grpc.StatusCode | None, reason: str) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.outbox.put(_Stop(code, reason))
            # weakly: a session whose stream ended is freed now, not after the grace
            _STOP_GRACE.call_later(_STOP_GRACE_S, functools.partial(_cancel_if_stuck, ref(self)))


def _cancel_if_stuck(session: ref[_Session]) -> None:
    """A stream whose writer is blocked (the peer stopped reading) never takes the stop from
    the outbox: cancel it, freeing its thread and what it holds. (Its blocked stream holds
    the session; one that is gone ended.)"""
    stopped = session()
    if stopped is not None and not stopped.served.is_set() and stopped.context is not None:
        stopped.context.cancel()


ROUND_TIMEOUT_HINT = (
    "to bound it, set a round timeout: `round_timeout = SECONDS` under [job] in the job file "
    "or `--set job.round_timeout=SECONDS` (serve_coordinator's round_timeout); a run waiting "
    "now takes one when stopped and restarted with `--resume RUN`. A party that has not "
    "answered an exchange within that many seconds is then left out of the round, which "
    "goes on with the parties that answered (and fails if fewer than min_fit_clients did)"
)
"""What a waiting notice says when nothing bounds the wait: the setting, the flag, and what
a round timeout does (a deployed run has none unless told: a party's training time is the
operator's to judge)."""


def _closing_line(connected: Sequence[str], goodbye: bool, outcome: str) -> str:
    """What the hub says as it stops: which parties were still connected and whether they
    were told the run's end (they leave) or not (an interrupted run: they keep retrying)."""
    if not connected:
        return "coordinator stopped serving (no party was connected)"
    names = ", ".join(connected)
    if goodbye:
        return f"coordinator stopped serving: told {names} the run {outcome}"
    return (
        f"coordinator stopped serving: {names} not told the run ended (it can be resumed): "
        "they keep reconnecting"
    )


class _WaitingNotice:
    """When an exchange next names the parties it waits for: ``after`` seconds from its
    start, then each time the wait doubles (so a day's wait says so about a dozen times)."""

    def __init__(self, after: float | None, begun: float) -> None:
        self.begun = begun
        self.at = None if after is None else begun + after

    def due(self, now: float) -> bool:
        """Whether a notice is due at ``now``; if so, the next is set at twice the wait."""
        if self.at is None or now < self.at:
            return False
        self.at = self.begun + 2 * (now - self.begun)
        return True


class _Call:
    """A request in flight to one party."""

    def __init__(self, request: Request, session: _Session | None) -> None:
        self.request = request
        self.session = session
        self.started = time.perf_counter()
        self.done = threading.Event()
        self.payload: bytes | None = None
        self.error: str | None = None
        self.finished = self.started
        self.sent: float | None = None  # when the request's last frame left the hub
        self.reply_begun: float | None = None  # when its streamed reply's header arrived
        self.reply_bytes = 0  # of the streamed reply, arrived so far

    def transfer_allowance(self, rule: StragglerWait, now: float) -> float:
        """What ``rule`` adds to this party's wait for moving its own request and reply."""
        reaching = (now if self.sent is None else self.sent) - self.started
        allowance = rule.transfer_allowance(reaching, len(self.request.payload))
        if self.reply_begun is not None:
            allowance += rule.transfer_allowance(now - self.reply_begun, self.reply_bytes)
        return allowance

    def finish(self, payload: bytes | None, error: str | None) -> None:
        if self.done.is_set():
            return
        self.payload, self.error = payload, error
        self.finished = time.perf_counter()
        self.done.set()


class GrpcHub:
    """A gRPC server that parties connect to; a :class:`ClientPool` over the connected ones.

    >>> hub = GrpcHub("0.0.0.0:7443", HubSecurity.from_directory("certs"))  # doctest: +SKIP
    >>> hub.start(); hub.wait_for_parties(count=3, timeout=300)              # doctest: +SKIP
    """

    def __init__(
        self,
        listen: str,
        security: HubSecurity,
        *,
        heartbeat_interval: float = 2.0,
        heartbeat_timeout: float | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
        party_memory_budget: int | None = None,
        max_parties: int = 256,
        max_streams_per_party: int = 4,
        handshake_timeout: float = 10.0,
        routing: bool = True,
        run_id: str = "",
        on_event: EventFn | None = None,
        stragglers: StragglerWait | None = None,
        waiting_notice: float | None = 60.0,
        resumable: bool = True,
        on_data_files: DataFilesFn | None = None,
        on_revoked: RevokedFn | None = None,
        on_release: ReleaseFn | None = None,
    ) -> None:
        """
        Parameters
        ----------
        listen
            ``HOST:PORT`` to listen on (port 0: any free port, see :attr:`port`).
        security
            How parties authenticate (mTLS certificates or tokens).
        heartbeat_interval, heartbeat_timeout
            Seconds between heartbeats, and without a whole frame from a party before it is
            dropped (default 5 intervals; more than one interval).
        max_message_bytes
            Largest message a party may send (a deployed coordinator sizes it from the
            model).
        party_memory_budget
            Most bytes the hub holds for one party at once: the message it is receiving,
            its unread messages and those waiting to be sent to it (default: one largest
            message plus 64 MiB).
        max_parties
            Streams served at once, over every party.
        max_streams_per_party
            Streams one party may hold open at once (its live session plus reconnects).
        handshake_timeout
            Seconds a new connection has to finish its TLS handshake (before it authenticated),
            a connection may stay open without a stream, and a new stream has to say hello.
        routing
            Route messages between parties and to the coordinator's channel; False (a
            horizontal run) drops and logs them.
        run_id
            The run this hub serves (told to parties in the welcome and the goodbye).
        on_event
            Receives ``(level, message)`` for joins, leaves and refusals.
        stragglers
            How long :meth:`request` waits for the parties that have not answered once most
            have (default: no such bound, only the request's timeout; a deployed coordinator
            passes :class:`~rengo.transport.straggler.StragglerWait`).
        waiting_notice
            Seconds an exchange waits before the hub names (a warning event) the parties
            that have not answered, then again each time the wait doubles; a wait nothing
            bounds (no timeout, too few answers for the straggler rule) is then not silent.
            None: never.
        resumable
            Whether the run keeps checkpoints to resume it from: the failure a party
            restarted mid-run causes says to resume the run, or (False) to start a new one.
        on_data_files
            Receives ``(party, {path: sha256})`` each time a party reports the data files it
            trains on (after each hello; its word, see :mod:`rengo.transport.data_report`);
            None: reports are read and checked, and dropped.
        on_revoked
            Receives ``(party, serial)`` once per revoked certificate a party presents: at
            the handshake (revoked while it was away) or while connected (dropped at the
            next liveness check). The structured record of a revocation, which no party's
            text can forge (a deployed coordinator stores it with the run).
        on_release
            Receives ``(party, release, wire format)`` each time a party's hello is
            admitted: the build it runs (a deployed coordinator stores it with the run).

        Raises
        ------
        ConfigError
            For a non-positive interval, limit or budget.
        """
        check_heartbeat(heartbeat_interval, heartbeat_timeout)
        check_message_limit(max_message_bytes)
        for label, value in (
            ("max_parties", max_parties),
            ("max_streams_per_party", max_streams_per_party),
            ("handshake_timeout", handshake_timeout),
        ):
            if value <= 0:
                raise ConfigError(f"{label} must be > 0, got {value}")
        listen_address(listen)
        self.listen = listen
        self.security = security
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout or 5 * heartbeat_interval
        self.max_message_bytes = max_message_bytes
        self.party_memory_budget = (
            party_memory_budget
            if party_memory_budget is not None
            else max_message_bytes + 64 * 1024**2
        )
        if self.party_memory_budget < max_message_bytes:
            raise ConfigError(
                f"party_memory_budget ({self.party_memory_budget} B) must hold at least one "
                f"message of max_message_bytes ({max_message_bytes} B)"
            )
        self.max_streams_per_party = max_streams_per_party
        self.handshake_timeout = handshake_timeout
        self.routing = routing
        self.resumable = resumable
        self.run_id = run_id
        self.on_event = on_event
        self.on_data_files = on_data_files
        self.on_revoked = on_revoked
        self.on_release = on_release
        self.stragglers = stragglers
        if waiting_notice is not None and not waiting_notice > 0:
            raise ConfigError(f"waiting_notice must be > 0 or None, got {waiting_notice}")
        self.waiting_notice = waiting_notice
        self.exchange_context = ""
        """What the current exchanges belong to, said in waiting notices (a deployed
        coordinator sets ``"round N"`` before each round); empty: nothing is added."""
        self.port: int | None = None
        self._max_parties = max_parties
        self._server: grpc.Server | None = None
        self._lock = threading.Condition()
        self._sessions: dict[str, _Session] = {}
        self._live: set[_Session] = set()
        self._removals: dict[str, str] = {}  # taken out by change_parties: what they are told
        self._calls: dict[int, _Call] = {}
        self._instances: dict[str, bytes] = {}  # each party's process, from its hello
        self._protocol_started = False  # a role's channel is open: parties hold its state
        self._ids = itertools.count(1)
        self._undelivered: dict[str, deque[OutgoingMessage]] = defaultdict(deque)
        self._inbox: dict[tuple[str, str], deque[bytes]] = defaultdict(deque)
        self._queued_from: dict[str, int] = defaultdict(int)  # unread bytes each party sent
        self._queued_for: dict[str, int] = defaultdict(int)  # undelivered bytes to each
        self._dropped: dict[str, int] = defaultdict(int)
        self._closed_bytes = [0, 0]
        self._stopping = threading.Event()
        self._goodbye = True
        self._outcome = "finished"
        self._farewelled: set[str] = set()
        self._watchdog: threading.Thread | None = None
        self.failure: PeerFailure | None = None
        self._departed: dict[str, HubParty] = {}
        self._revoked: set[str] = set()  # dropped for a revoked certificate: not coming back
        self._revocations_told: set[tuple[str, int]] = set()  # given to on_revoked already
        self._joined_serial: dict[str, int] = {}  # each name's certificate at its last join
        self._serials_seen: frozenset[int] = frozenset()  # the revocation list last looked at
        self._joins: dict[str, int] = defaultdict(int)
        self._repeats = RepeatedEvents()  # refusals a party can repeat at will

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> int:
        """Bind and start serving; returns the port (useful with ``listen="host:0"``).

        Raises
        ------
        ConfigError
            If it cannot listen there (the port is in use, the host is not this machine's).
        """
        # gRPC's own default gives a connection 120 s to finish its TLS handshake, and keeps
        # one that opened no stream for good, so anyone who can reach the port (with tokens:
        # anyone with the public CA certificate) could hold sockets without authenticating
        handshake_ms = max(1, round(self.handshake_timeout * 1000))
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self._max_parties + 4, thread_name_prefix="rengo-hub"),
            options=[
                *SERVER_OPTIONS,
                ("grpc.server_handshake_timeout_ms", handshake_ms),
                ("grpc.max_connection_idle_ms", handshake_ms),
            ],
            maximum_concurrent_rpcs=self._max_parties,
        )
        handler = grpc.stream_stream_rpc_method_handler(self._serve)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),)
        )
        credentials = self.security.server_credentials()
        if credentials is None:
            warn_insecure("coordinator")
        try:
            if credentials is None:
                port = server.add_insecure_port(self.listen)
            else:
                port = server.add_secure_port(self.listen, credentials)
        except RuntimeError:  # grpcio 1.6x+: "Failed to bind to address ..."
            port = 0
        if port == 0:
            raise ConfigError(
                f"cannot listen on {self.listen}: the port is in use, or the host is not an "
                "address of this machine"
            )
        server.start()
        self._server, self.port = server, port
        self._note_revoked_absent(self.security.revoked_serials())  # revoked while all was down
        self._watchdog = threading.Thread(target=self._watch, name="rengo-hub-watch", daemon=True)
        self._watchdog.start()
        log.info(
            "coordinator listening on %s (port %d, auth %s)", self.listen, port, self.security.mode
        )
        return int(port)

    @property
    def address(self) -> str:
        """``host:port`` the hub listens on (the bound port when 0 was asked for)."""
        host = self.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def close(
        self,
        goodbye: bool = True,
        grace: float = 2.0,
        linger: float = 0.0,
        outcome: str = "finished",
        expected: Collection[str] = (),
    ) -> None:
        """Tell parties the run is over (``goodbye``), then stop serving.

        Parameters
        ----------
        goodbye
            Send every connected party the run's end (``run RUN <outcome>``); without it
            (an interrupted run, meant to be resumed) parties keep trying to reconnect.
        grace
            Seconds to let queued messages go out before the server stops.
        linger
            With ``goodbye``: seconds to keep answering parties that lost their link before
            the end and come back - each is told the run finished instead of finding no
            coordinator and retrying for minutes. The hub stops earlier once every such
            party has been told.
        outcome
            How the run ended, as the goodbye says it: ``"completed"``, ``"failed ..."``
            (a party then ends with an error, see
            :attr:`~rengo.transport.grpc_party.PartyConnection.run_failed`; at most 400
            characters, which every party reads: the deployed coordinator sends the round
            and the kind of failure, never another party's error) or the neutral default
            ``"finished"``.
        expected
            With ``linger``: parties to wait for too if they never joined (a party that
            failed before the others connected ended the run): each that connects within
            ``linger`` is told the run's end instead of retrying for minutes against no
            coordinator.
        """
        self._goodbye = goodbye
        self._outcome = " ".join(outcome.split())[:400] or "finished"
        self._stopping.set()
        with self._lock:
            sessions = list(self._live)
            calls = list(self._calls.values())
            self._calls.clear()
        for call in calls:
            call.finish(None, "coordinator shut down")
        for s in sessions:
            if goodbye and s.registered:
                self._farewell(s)
            s.stop(None, "coordinator shut down")
        if self._server is not None:
            if goodbye and linger > 0:
                self._linger(linger, expected)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(not s.outbox.empty() for s in sessions):
                time.sleep(0.01)
            self._server.stop(grace).wait()
            self._server = None
            connected = sorted({s.name for s in sessions if s.registered})
            self._event("info", _closing_line(connected, goodbye, self._outcome))
        with self._lock:  # nothing waits for these any more
            self._undelivered.clear()
            self._inbox.clear()
            self._queued_from.clear()
            self._queued_for.clear()

    def never_joined(self, names: Collection[str]) -> list[str]:
        """Those of ``names`` that never joined this hub, in the order given."""
        with self._lock:
            return [name for name in names if not self._joins.get(name)]

    def _farewell(self, session: _Session) -> None:
        """Tell one party the run is over."""
        text = f"run {self.run_id} {self._outcome}" if self.run_id else f"the run {self._outcome}"
        session.send(OutgoingMessage(COORDINATOR, session.name, BYE, text.encode(), self.run_id))
        with self._lock:
            self._farewelled.add(session.name)

    def _linger(self, seconds: float, expected: Collection[str] = ()) -> None:
        """Keep serving (every hello is answered with the run's end) until each party that
        lost its link before the end, or of ``expected`` never joined, has been told, or
        ``seconds`` passed."""
        deadline = time.monotonic() + seconds
        with self._lock:
            while True:
                missing = {
                    name
                    for name, party in self._departed.items()
                    if party.reason != "left"
                    and name not in self._farewelled
                    and name not in self._revoked
                    and self._admits(name)
                } | {
                    name
                    for name in expected
                    if not self._joins.get(name) and name not in self._farewelled
                }
                remaining = deadline - time.monotonic()
                if not missing or remaining <= 0:
                    break
                self._lock.wait(min(remaining, 0.2))
        if missing:
            self._event(
                "info",
                f"stopped waiting to tell {', '.join(sorted(missing))} the run finished "
                f"(gone for more than {seconds:g}s)",
            )

    def __enter__(self) -> GrpcHub:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ClientPool -----------------------------------------------------------------------
    def client_ids(self) -> list[str]:
        """Connected, authenticated parties, sorted (so client sampling is reproducible)."""
        with self._lock:
            return sorted(self._sessions)

    def revoked_parties(self) -> frozenset[str]:
        """Parties dropped for a revoked certificate that have not joined again since (with
        a new certificate): not worth waiting for."""
        with self._lock:
            return frozenset(self._revoked)

    def change_parties(
        self, parties: Collection[str], reason: str, tokens: Mapping[str, str] | None = None
    ) -> list[str]:
        """Admit exactly ``parties`` from now on (the allow-list becomes them: a deployed
        coordinator applying the operator's request), ending the session of each connected
        party left out, which is told ``reason`` and refused from then on. A stream of a
        party left out that opened before the change and has not said hello yet is ended
        too, and a hello that still arrives on one is refused with ``reason``.

        Parameters
        ----------
        parties
            The allow-list from now on.
        reason
            What a party taken out is told (why it was refused).
        tokens
            On tokens, the parties' tokens from now on (the tokens file read again,
            :meth:`~rengo.transport.grpc_security.HubSecurity.with_tokens_reread`); None:
            those in force.

        Returns
        -------
        list[str]
            The connected parties whose session was ended, sorted.

        Raises
        ------
        ConfigError
            If the hub's security refuses the list (on tokens: a party without a token):
            nothing changes.
        """
        names = frozenset(parties)
        security = replace(
            self.security, parties=names, tokens=self.security.tokens if tokens is None else tokens
        )
        with self._lock:  # a hello registers before this (ended below) or is refused after
            for name in (self.security.parties or frozenset()) - names:
                self._removals[name] = reason
            self.security = security
            for name in names:
                self._removals.pop(name, None)
            ended = sorted((n, s) for n, s in self._sessions.items() if n not in names)
            # streams opened (authenticated) before the change that have not said hello yet
            half_open = [s for s in self._live if not s.registered and s.name not in names]
            for name in {n for n, _ in ended} | {s.name for s in half_open}:
                self._removals[name] = reason
        for _, session in ended:
            self._end(session, grpc.StatusCode.PERMISSION_DENIED, reason)
        for session in half_open:
            self._end(session, grpc.StatusCode.PERMISSION_DENIED, reason)
        self._note_revoked_absent(self.security.revoked_serials())  # admitted, yet revoked
        return [name for name, _ in ended]

    def _admits(self, name: str) -> bool:
        """Whether the allow-list admits ``name`` now (any name without one)."""
        parties = self.security.parties
        return parties is None or name in parties

    def _note_revoked_absent(self, revoked: frozenset[int]) -> None:
        """Take for revoked each allow-listed party not connected whose latest certificate
        in the federation folder is among ``revoked`` (revoked while it was away: it cannot
        join, so it is not waited for), recorded as a refusal at the handshake would be."""
        self._serials_seen = revoked
        parties = self.security.parties
        if parties is None or not revoked:
            return
        with self._lock:
            absent = [p for p in parties if p not in self._sessions and p not in self._revoked]
        for name, serial in self.security.revoked_parties(absent, revoked).items():
            # as for a refused handshake: not for a certificate the name did not join with
            if self._revoke(name, serial, refused_at_handshake=True):
                self._event("warning", f"{revoked_reason(name, serial)}: it cannot join")

    def wait_for_parties(
        self,
        names: Collection[str] | None = None,
        count: int | None = None,
        timeout: float | None = None,
    ) -> bool:
        """Block until every one of ``names`` (or at least ``count`` parties) is connected,
        or a party aborted the run (:attr:`failure`: its role's waits raise it); False if
        ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def ready() -> bool:
            if self.failure is not None:  # e.g. a party whose data failed before its role
                return True
            have = self._sessions.keys()
            if names is not None and not set(names) <= have:
                return False
            return count is None or len(have) >= count

        with self._lock:
            while not ready():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(0.5 if remaining is None else min(remaining, 0.5))
            return True

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        """Send every request at once; yield replies in request order (see ClientPool)."""
        calls: list[_Call] = []
        for req in requests:
            with self._lock:
                session = self._sessions.get(req.client_id)
                call = _Call(req, session)
                call_id = next(self._ids)
                if session is not None:
                    self._calls[call_id] = call
            if session is None:
                call.finish(None, "not connected")
            elif session.unsent + len(req.payload) > self.party_memory_budget:
                reason = (
                    f"not reading: {session.unsent} bytes already wait to be sent to it "
                    f"(party_memory_budget {self.party_memory_budget})"
                )
                self._end(session, grpc.StatusCode.RESOURCE_EXHAUSTED, reason)
                call.finish(None, reason)
            elif not session.send(
                OutgoingMessage(
                    COORDINATOR,
                    req.client_id,
                    rpc_key(call_id, req.key),
                    req.payload,
                    self.run_id,
                )
            ):
                call.finish(None, "disconnected")
            calls.append(call)
        try:
            begun = min((call.started for call in calls), default=0.0)
            notice = _WaitingNotice(self.waiting_notice, begun)
            for call in calls:
                self._await(call, calls, begun, timeout, notice)
                yield self._reply(call)
        finally:
            with self._lock:
                for call_id in [i for i, c in self._calls.items() if c in calls]:
                    del self._calls[call_id]

    def _await(
        self,
        call: _Call,
        calls: Sequence[_Call],
        begun: float,
        timeout: float | None,
        notice: _WaitingNotice | None = None,
    ) -> None:
        """Wait for ``call``'s answer until its ``timeout`` or, once most of ``calls`` have
        answered, the hub's straggler deadline (see :class:`StragglerWait`); at ``notice``'s
        times, name the parties that have not answered."""
        limit = None if timeout is None else call.started + timeout
        while not call.done.is_set():
            if notice is not None and notice.due(time.perf_counter()):
                self._name_the_waited_for(calls, begun, timeout)
            cut: float | None = None
            answered: list[float] = []
            if self.stragglers is not None:
                answered = [
                    c.finished - begun for c in calls if c.done.is_set() and c.payload is not None
                ]
                after = self.stragglers.deadline(answered, len(calls))
                cut = None if after is None else begun + after
            now = time.perf_counter()
            if cut is not None and self.stragglers is not None:
                # the party's own transfer time is on top (a thin link is not a straggler)
                cut += call.transfer_allowance(self.stragglers, now)
            if limit is not None and now >= limit and (cut is None or limit <= cut):
                call.finish(None, f"{TIMED_OUT} (limit {timeout:g}s)")
            elif cut is not None and now >= cut:
                assert self.stragglers is not None
                moving = call.transfer_allowance(self.stragglers, now)
                call.finish(None, self.stragglers.reason(answered, len(calls), moving))
            else:
                next_notice = None if notice is None else notice.at
                ends = [t for t in (limit, cut, next_notice) if t is not None]
                # while the stragglers' clock has not started, look again as answers come
                poll = _STRAGGLER_POLL_S if self.stragglers is not None and cut is None else None
                waits = [t - now for t in ends] + ([poll] if poll is not None else [])
                call.done.wait(min(waits) if waits else None)

    def _name_the_waited_for(
        self, calls: Sequence[_Call], begun: float, timeout: float | None
    ) -> None:
        """A warning event naming the parties an exchange still waits for, and what bounds
        the wait."""
        pending = [c.request.client_id for c in calls if not c.done.is_set()]
        if not pending:
            return
        answered = sum(1 for c in calls if c.done.is_set() and c.payload is not None)
        named = ", ".join(pending[:10]) + (
            f" and {len(pending) - 10} more" if len(pending) > 10 else ""
        )
        if timeout is not None:
            bound = f"each is timed out after {timeout:g}s"
        elif self.stragglers is not None and answered < self.stragglers.needed(len(calls)):
            bound = (
                f"nothing bounds this wait until {self.stragglers.needed(len(calls))} of "
                f"{len(calls)} answered (the straggler rule); {ROUND_TIMEOUT_HINT}"
            )
        elif self.stragglers is not None:
            bound = "the straggler rule cuts them off"
        else:
            bound = f"nothing bounds this wait; {ROUND_TIMEOUT_HINT}"
        elapsed = time.perf_counter() - begun
        of = f" of {self.exchange_context}" if self.exchange_context else ""
        self._event(
            "warning",
            f"waiting {elapsed:.0f}s for {len(pending)} of {len(calls)} parties to answer "
            f"request {calls[0].request.key!r}{of}: {named} ({answered} answered; {bound})",
        )

    @staticmethod
    def _reply(call: _Call) -> Reply:
        return Reply(
            call.request.client_id,
            call.request.key,
            call.payload,
            call.error,
            bytes_sent=len(call.request.payload),
            bytes_received=len(call.payload) if call.payload is not None else 0,
            duration_s=call.finished - call.started,
        )

    def held_bytes(self, name: str) -> int:
        """Bytes the hub holds for party ``name`` now: the message it is receiving, what it
        sent that nobody read yet, and what waits to be sent to it (queued while it is
        away, or in its stream's outbox) - the total ``party_memory_budget`` caps."""
        with self._lock:
            streams = [s for s in self._live if s.name == name]
            return (
                sum(s.receiving + s.unsent for s in streams)
                + self._queued_from.get(name, 0)
                + self._queued_for.get(name, 0)
            )

    def traffic(self) -> tuple[int, int]:
        """``(bytes received, bytes sent)`` on the wire so far, over all sessions."""
        with self._lock:
            live = list(self._live)
            received, sent = self._closed_bytes
        return received + sum(s.bytes_in for s in live), sent + sum(s.bytes_out for s in live)

    # -- the coordinator's own role in multi-party protocols ------------------------------
    def channel(
        self,
        *,
        watch: Collection[str] = (),
        rejoin_wait: float = 30.0,
        timeout: float | None = None,
    ) -> HubChannel:
        """A :class:`~rengo.transport.channel.Channel` for the coordinator's role.

        Parameters
        ----------
        watch
            The run's parties: once one of them has been disconnected for more than
            ``rejoin_wait`` seconds, the run fails for every role (see :meth:`fail`).
        rejoin_wait
            Seconds a watched party may be away (a restart, a network blip).
        timeout
            Caps every wait that names none.
        """
        self._protocol_started = True
        return HubChannel(self, watch=watch, rejoin_wait=rejoin_wait, timeout=timeout)

    def fail(self, role: str, reason: str) -> None:
        """Record that ``role`` failed (the first failure wins) and tell every other
        connected party, so that every role of the run stops waiting."""
        with self._lock:
            if self.failure is not None:
                return
            self.failure = PeerFailure(role, reason)
            sessions = [s for s in self._sessions.values() if s.name != role]
            self._lock.notify_all()
        payload = reason.encode()[:200]
        for session in sessions:
            session.send(OutgoingMessage(role, session.name, ABORT, payload, self.run_id))
        with self._lock:  # the run cannot go on: nothing queued will be read
            self._undelivered.clear()
            self._inbox.clear()
            self._queued_for.clear()
            self._queued_from.clear()
        # recorded as a warning, logged at info: every role's wait raises it (printed once)
        self._event("warning", f"{role} aborted the run ({reason})", log_level="info")

    def notify(self, name: str, text: str) -> bool:
        """Tell party ``name`` something about its own results, if it is connected now.

        The coordinator's round loop uses it to say why a party's result was not counted or
        counted at a cap (:class:`~rengo.hfl.workflow.FitRound`); the party logs it (see
        :attr:`~rengo.transport.grpc_party.PartyConnection.notices`). Best effort: nothing is
        queued for a party that is away. ``text`` is cut to one line of at most
        :data:`~rengo.transport.grpc_wire.NOTICE_LIMIT` characters.

        Returns
        -------
        bool
            Whether the notice went to a connected party's stream.
        """
        line = " ".join(text.split())[:NOTICE_LIMIT]
        with self._lock:
            session = self._sessions.get(name)
        if session is None or not session.registered:
            return False
        return session.send(OutgoingMessage(COORDINATOR, name, NOTICE, line.encode(), self.run_id))

    def _post(self, sender: str, to: str, key: str, payload: bytes) -> None:
        """Route one message: to ``to``'s stream now, or into its queue until it (re)joins.

        Raises
        ------
        ProtocolError
            When the message would take the sender or the receiver past
            ``party_memory_budget`` (or past the queue's count limits).
        """
        message = OutgoingMessage(sender, to, key, payload, self.run_id)
        with self._lock:
            session = self._sessions.get(to)
            if session is not None:
                if session.unsent + message.size > self.party_memory_budget:
                    raise ProtocolError(
                        f"{to!r} is not reading: {session.unsent} bytes already wait to be "
                        f"sent to it (party_memory_budget {self.party_memory_budget})"
                    )
                if session.send(message):
                    return
            if to not in self._undelivered and len(self._undelivered) >= _MAX_ABSENT:
                raise ProtocolError(f"too many absent receivers; {to!r} is not connected")
            pending = self._undelivered[to]
            if len(pending) >= _MAX_UNDELIVERED:
                raise ProtocolError(f"{to!r} is not connected and has too many queued messages")
            for party, queued in ((to, self._queued_for[to]), (sender, self._queued_from[sender])):
                if party != COORDINATOR and queued + message.size > self.party_memory_budget:
                    raise ProtocolError(
                        f"{queued + message.size} bytes would wait for {to!r}, who is not "
                        f"connected (party_memory_budget of {party!r}: "
                        f"{self.party_memory_budget})"
                    )
            pending.append(message)
            self._queued_for[to] += message.size
            self._queued_from[sender] += message.size

    def _take(self, frm: str, key: str, timeout: float | None, check: Callable[[], None]) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        slot = (frm, key)
        long_wait = LongWait()
        with self._lock:
            while not self._inbox.get(slot):
                if self.failure is not None:
                    raise self.failure
                self._lock.release()
                try:
                    check()
                    waited = long_wait.due()
                    if waited is not None:
                        self._event("warning", LongWait.notice("the coordinator", key, frm, waited))
                finally:
                    self._lock.acquire()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ChannelTimeout(f"coordinator waited for {key!r} from {frm} in vain")
                self._lock.wait(0.5 if remaining is None else min(remaining, 0.5))
            waiting = self._inbox[slot]
            payload = waiting.popleft()
            if not waiting:
                del self._inbox[slot]  # no empty queue left behind per key
            self._queued_from[frm] -= queued_size(frm, COORDINATOR, key, len(payload))
            return payload

    # -- one party's stream ---------------------------------------------------------------
    def _serve(self, frames: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        peer = context.peer()
        try:
            name = self.security.authenticate(context)
        except AuthenticationError as failure:
            exc = failure
            if isinstance(exc, RevokedCertificateError):  # revoked while it was away
                self._revoke(exc.party, exc.serial, refused_at_handshake=True)
            removal = self._removals.get(exc.party) if isinstance(exc, UnknownPartyError) else None
            if removal is not None:  # taken out by the operator: not a misspelt name
                exc = AuthenticationError(removal)
            note = getattr(exc, "operator_note", "")  # for this log only, never the peer
            self._event_repeated(
                "warning",
                f"refused connection from {peer}: {exc}{note}",
                self._repeats.count("refused", peer_host(peer)),
            )
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        if self._stopping.is_set() and not self._goodbye:
            context.abort(grpc.StatusCode.UNAVAILABLE, "coordinator is shutting down")
        session = _Session(name, peer, context, self.security.peer_serial(context))
        with self._lock:
            open_streams = sum(1 for s in self._live if s.name == name)
            if open_streams >= self.max_streams_per_party:
                refused = True
            else:
                refused = False
                self._live.add(session)
        if refused:
            reason = (
                f"party {name} already has {open_streams} open streams (the limit per party "
                f"is {self.max_streams_per_party})"
            )
            self._event_repeated(
                "warning",
                f"refused a stream from {peer}: {reason}",
                self._repeats.count("streams", name),
            )
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, reason)
        reader = threading.Thread(
            target=self._read, args=(session, frames), name=f"rengo-hub-read-{name}", daemon=True
        )
        reader.start()
        try:
            while True:
                try:
                    item = session.outbox.get(timeout=self.heartbeat_interval)
                except queue.Empty:
                    session.bytes_out += len(PING_FRAME)
                    yield PING_FRAME
                    continue
                if isinstance(item, _Stop):
                    if item.code is not None:
                        context.abort(item.code, item.reason)
                    return
                for frame in envelope_frames(item):
                    session.bytes_out += len(frame)
                    yield frame
                session.unsent -= item.size
                if item.key.startswith(RPC_PREFIX):
                    self._request_sent(item.key)
        finally:
            session.served.set()

    def _read(self, session: _Session, frames: Iterator[bytes]) -> None:
        assembler = FrameAssembler(self.max_message_bytes)
        code: grpc.StatusCode | None = None
        reason = "disconnected"
        try:
            for frame in frames:
                session.last_seen = time.monotonic()
                session.bytes_in += len(frame)
                if not session.registered:
                    _check_before_hello(frame)
                item = assembler.feed(frame)
                if assembler.in_progress:
                    session.receiving = assembler.buffered
                    self._check_budget(session.name)
                    self._reply_arriving(session, assembler.key, assembler.buffered)
                    continue
                session.receiving = 0
                if item is None or item == PING:
                    continue
                assert isinstance(item, Envelope)
                if item.key == BYE:
                    reason = "left"
                    session.said_bye = True
                    break
                self._on_envelope(session, item)
        except PayloadOverLimit as exc:
            code, reason = grpc.StatusCode.INVALID_ARGUMENT, f"message too large: {exc}"
        except CodecError as exc:
            code, reason = grpc.StatusCode.INVALID_ARGUMENT, f"malformed frame: {exc}"
        except AuthenticationError as exc:
            code, reason = grpc.StatusCode.PERMISSION_DENIED, str(exc)
        except StalePartyError as exc:  # the party stops: retrying cannot help
            code, reason = grpc.StatusCode.ABORTED, str(exc)
        except _OverBudget as exc:
            code, reason = grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
            self._purge_from(session.name)
        except ProtocolError as exc:
            code, reason = grpc.StatusCode.FAILED_PRECONDITION, str(exc)
        except Exception as exc:  # the stream broke under us (cancelled, reset): a normal leave
            reason = f"connection lost ({type(exc).__name__})"
        session.receiving = 0
        self._end(session, code, reason)

    def _purge_from(self, name: str) -> None:
        """Free every unread message ``name`` sent (it broke its budget: none will count)."""
        with self._lock:
            for slot in [slot for slot in self._inbox if slot[0] == name]:
                del self._inbox[slot]
            for to, pending in self._undelivered.items():
                kept = deque(m for m in pending if m.sender != name)
                self._queued_for[to] -= sum(m.size for m in pending if m.sender == name)
                self._undelivered[to] = kept
            self._queued_from.pop(name, None)

    def _check_budget(self, name: str) -> None:
        """Raise :class:`_OverBudget` once the hub holds more for ``name`` than its budget:
        what its streams are receiving plus what it sent that nobody has read yet."""
        with self._lock:
            receiving = sum(s.receiving for s in self._live if s.name == name)
            held = receiving + self._queued_from.get(name, 0)
        if held > self.party_memory_budget:
            raise _OverBudget(
                f"party {name} exceeded its memory budget: the coordinator would hold {held} "
                f"bytes for it (party_memory_budget {self.party_memory_budget})"
            )

    def _on_envelope(self, session: _Session, env: Envelope) -> None:
        if env.sender != session.name:
            raise AuthenticationError(
                f"party {session.name!r} sent a message claiming to be {env.sender!r}"
            )
        if not session.registered:
            if env.key != HELLO:
                raise ProtocolError(f"expected {HELLO!r} first, got {env.key!r}")
            instance, rejoining, release, wire = parse_hello(bytes(env.payload[:HELLO_LIMIT]))
            compatible = check_release(session.name, release, wire)
            if compatible is not None:
                log.warning("%s", compatible)
            self._refuse_a_stale_process(session.name, rejoining)
            self._register(session, instance)
            if self.on_release is not None and not self._stopping.is_set():
                try:
                    self.on_release(session.name, release, wire)
                except Exception:  # bookkeeping never cuts a party off
                    log.warning("could not record party %s's release", session.name, exc_info=True)
            return
        if env.key.startswith(RPC_PREFIX):
            self._on_reply(session, env)
            return
        if env.key == DATA_FILES:
            files = parse_data_report(session.name, bytes(env.payload))
            if self.on_data_files is not None:
                self.on_data_files(session.name, files)
            return
        if env.key == ABORT:
            if not self.routing:  # a horizontal run's parties run no protocol a party aborts
                self._drop(session.name, env)
                return
            self.fail(session.name, party_text(env.payload, 200) or "failed")
            return
        check_protocol_key(env.key)
        if not self.routing:
            self._drop(session.name, env)
            return
        if env.receiver == COORDINATOR:
            payload = bytes(env.payload)
            with self._lock:
                self._inbox[(env.sender, env.key)].append(payload)
                self._queued_from[env.sender] += queued_size(
                    env.sender, COORDINATOR, env.key, len(payload)
                )
                self._lock.notify_all()
            self._check_budget(session.name)
            return
        self._post(env.sender, env.receiver, env.key, env.payload)

    def _drop(self, name: str, env: Envelope) -> None:
        """A message this hub does not route (a horizontal run's parties talk only to the
        round loop): dropped, and logged at the 1st, 10th, 100th ... from each party."""
        with self._lock:
            self._dropped[name] += 1
            count = self._dropped[name]
        if count in (1, 10, 100, 1000) or count % 10_000 == 0:
            self._event(
                "warning",
                f"dropped message {env.key!r} from party {name} to {env.receiver!r}: this run "
                f"routes no messages between parties ({count} dropped from {name} so far)",
            )

    def _request_sent(self, key: str) -> None:
        """The last frame of request ``key`` left for its party: its transfer ended."""
        call = self._calls.get(parse_rpc_key(key)[0])
        if call is not None and call.sent is None:
            call.sent = time.perf_counter()

    def _reply_arriving(self, session: _Session, key: str | None, arrived: int) -> None:
        """``arrived`` bytes of the streamed message ``key`` came from ``session``'s party:
        if it answers that party's request, its reply is moving (see :class:`_Call`)."""
        if key is None or not key.startswith(RPC_PREFIX):
            return
        try:
            call_id = parse_rpc_key(key)[0]
        except ProtocolError:
            return  # refused when the message is complete
        call = self._calls.get(call_id)
        if call is None or call.request.client_id != session.name:
            return
        if call.reply_begun is None:
            call.reply_begun = time.perf_counter()
        call.reply_bytes = arrived

    def _on_reply(self, session: _Session, env: Envelope) -> None:
        call_id, outcome = parse_rpc_key(env.key)
        with self._lock:
            call = self._calls.get(call_id)
            owner = None if call is None else call.request.client_id
            if owner == session.name:
                del self._calls[call_id]
        if call is None:
            log.debug("late or unknown reply %d from %s dropped", call_id, session.name)
            return
        if owner != session.name:
            # the request stays with the party it went to: a party answering another's
            # (call ids are easy to guess) is cut off and fails nobody else's round
            raise AuthenticationError(f"party {session.name!r} answered a request for {owner!r}")
        if outcome == REPLY_OK:
            call.finish(env.payload, None)  # the reassembled bytearray, no copy
        elif outcome == REPLY_ERROR:
            call.finish(None, party_text(env.payload, REPLY_ERROR_LIMIT) or "failed")
        else:
            call.finish(None, f"malformed reply (outcome {outcome[:40]!r})")
            raise ProtocolError(f"unknown reply outcome {outcome[:40]!r}")

    def _refuse_a_stale_process(self, name: str, rejoining: bool) -> None:
        """Refuse a vertical run's party process that says a coordinator welcomed it before
        although this hub never saw it: it was in the run with a coordinator process that
        has stopped (this one was started to resume the run). It holds that process's run
        state and messages, so it could only abort the resumed run; a party started again
        joins it from its checkpoints.

        Raises
        ------
        StalePartyError
            Naming the party and what to do.
        """
        if not (self.routing and rejoining) or self._stopping.is_set():
            return
        with self._lock:
            seen = name in self._instances
        if seen:  # the link to this hub came back: the run's own rules apply
            return
        raise StalePartyError(
            f"this coordinator was started again (to resume the run: --resume RUN) and party "
            f"{name}'s process holds the stopped coordinator's run state, so it cannot take "
            "part: start this party again (with the same --checkpoints folder, if the run "
            "keeps them) to join the resumed run"
        )

    def _register(self, session: _Session, instance: bytes = b"") -> None:
        """Admit a party that said hello; a second instance of it replaces the first, which
        is told it was replaced and stops (it does not take the link back).

        ``instance`` names the party's process (see ``PartyConnection.instance``): once a
        multi-party protocol runs here, a party that comes back as another process was
        restarted and holds none of the run's state (it would wait for messages its old
        process read, and every role with it, forever), so the run fails for every role,
        naming it; a resumable run is then continued with ``--resume``."""
        if self._stopping.is_set():
            if not self._goodbye:
                raise ProtocolError("coordinator is shutting down")
            session.registered = True
            self._farewell(session)  # came back after the end: tell it the run finished
            session.stop(None, "the run finished")
            with self._lock:
                self._lock.notify_all()
            return
        with self._lock:
            if not self._admits(session.name):  # taken out after its stream opened
                raise AuthenticationError(
                    self._removals.get(
                        session.name, f"party {session.name!r} is not in the allow-list"
                    )
                )
            before = self._instances.get(session.name)
            if instance:
                self._instances[session.name] = instance
            restarted = (
                self.routing and self._protocol_started and bool(before) and before != instance
            )
            old = self._sessions.get(session.name)
            self._sessions[session.name] = session
            session.registered = True
            self._joins[session.name] += 1
            session.join_number = self._joins[session.name]
            session.joined_at = time.time()
            self._departed.pop(session.name, None)
            self._revoked.discard(session.name)  # a new certificate was issued
            if session.serial is not None:
                self._joined_serial[session.name] = session.serial
            backlog = self._undelivered.pop(session.name, deque())
            self._queued_for.pop(session.name, None)
            for message in backlog:
                self._queued_from[message.sender] -= message.size
            self._lock.notify_all()
        if old is not None:
            reason = (
                f"replaced by another instance of party {session.name} that connected from "
                f"{session.peer}; this instance stops (is the party started twice?)"
            )
            self._fail_calls(old, "replaced by a new connection")
            old.stop(grpc.StatusCode.ALREADY_EXISTS, reason)
            self._event_repeated(
                "warning",
                f"party {session.name} connected again from {session.peer} while connected "
                f"from {old.peer}: the new connection replaces the old one, which is told to stop",
                session.join_number,
            )
        session.send(
            OutgoingMessage(
                COORDINATOR, session.name, WELCOME, welcome_payload(self.run_id), self.run_id
            )
        )
        for message in backlog:
            session.send(message)
        self._event_repeated(
            "info", f"party {session.name} joined from {session.peer}", session.join_number
        )
        if restarted:
            self.fail(
                session.name,
                "restarted mid-run: its new process has none of the run's state "
                + (
                    "(resume the run to continue it)"
                    if self.resumable
                    else "and the run keeps no checkpoints (start a new run; --checkpoints on "
                    "every role makes runs resumable)"
                ),
            )

    def _end(self, session: _Session, code: grpc.StatusCode | None, reason: str) -> None:
        with self._lock:
            was_current = self._sessions.get(session.name) is session
            if was_current:
                del self._sessions[session.name]
                why = "coordinator shut down" if self._stopping.is_set() else reason
                self._departed[session.name] = self._party(session, connected=False, reason=why)
                if session.said_bye:  # left for good: nothing queued for it will be read
                    for message in self._undelivered.pop(session.name, deque()):
                        self._queued_from[message.sender] -= message.size
                    self._queued_for.pop(session.name, None)
            if session in self._live:
                self._live.discard(session)
                self._closed_bytes[0] += session.bytes_in
                self._closed_bytes[1] += session.bytes_out
            self._lock.notify_all()
        self._fail_calls(session, reason)
        session.stop(code, reason)
        if was_current and not self._stopping.is_set():
            level = "warning" if code is not None else "info"
            self._event_repeated(
                level,
                f"party {session.name} left: {reason} "
                f"(received {session.bytes_in} B, sent {session.bytes_out} B)",
                session.join_number,
            )
        elif code is not None and not session.registered:
            self._event_repeated(
                "warning",
                f"dropped connection from {session.peer}: {reason}",
                self._repeats.count("dropped", session.name),
            )

    def _fail_calls(self, session: _Session, reason: str) -> None:
        with self._lock:
            doomed = [(i, c) for i, c in self._calls.items() if c.session is session]
            for i, _ in doomed:
                del self._calls[i]
        for _, call in doomed:
            call.finish(None, reason)

    def _watch(self) -> None:
        """Drop sessions that sent nothing (not even a heartbeat) for ``heartbeat_timeout``,
        streams that did not say hello within ``handshake_timeout``, and parties whose
        certificate the operator revoked while they were connected."""
        tick = min(self.heartbeat_interval, self.handshake_timeout / 2)
        while not self._stopping.wait(tick):
            now = time.monotonic()
            with self._lock:
                stale = [s for s in self._live if now - s.last_seen > self.heartbeat_timeout]
                mute = [
                    s
                    for s in self._live
                    if not s.registered and now - s.opened > self.handshake_timeout
                ]
                certified = [s for s in self._live if s.serial is not None]
            revoked: frozenset[int] = frozenset()
            try:
                revoked = self.security.revoked_serials()
                if revoked != self._serials_seen:  # a new list: whom it names is not awaited
                    self._note_revoked_absent(revoked)
            except Exception:  # the liveness checks below must go on whatever the list does
                log.exception("reading the revocation list failed")
            for s in certified:
                if s.serial is not None and s.serial in revoked:
                    self._revoke(s.name, s.serial)
                    self._end(s, grpc.StatusCode.UNAUTHENTICATED, revoked_reason(s.name, s.serial))
            for s in stale:
                self._end(
                    s,
                    grpc.StatusCode.UNAVAILABLE,
                    f"no heartbeat for {self.heartbeat_timeout:g}s",
                )
            for s in mute:
                if s not in stale:
                    self._end(
                        s,
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"no hello within {self.handshake_timeout:g}s of connecting",
                    )

    def _revoke(self, name: str, serial: int, refused_at_handshake: bool = False) -> bool:
        """Take ``name`` for revoked (not waited for again until it joins with a new
        certificate), whether it was refused at the handshake or dropped while connected:
        one path for both, and :attr:`on_revoked` told once per certificate.

        A handshake refused for an OLD certificate of a name that has joined since with
        another one (revoked and reissued: a stolen key) says nothing about the party: whoever
        holds the old key must not make the hub stop waiting for the real party, nor record
        it revoked. Returns whether this certificate was new to the hub."""
        with self._lock:
            joined = self._joined_serial.get(name)
            if refused_at_handshake and joined is not None and joined != serial:
                return False
            self._revoked.add(name)
            new = (name, serial) not in self._revocations_told
            self._revocations_told.add((name, serial))
            self._lock.notify_all()
        if new and self.on_revoked is not None:
            try:
                self.on_revoked(name, serial)
            except Exception:  # recording must never take the hub down
                log.exception("revocation callback failed")
        return new

    def _event_repeated(self, level: str, message: str, count: int) -> None:
        """An event a party can repeat at will, this its ``count``-th: recorded as
        :meth:`_event` when :func:`worth_recording`, with how many there were; otherwise
        only logged at debug level (see :mod:`rengo.transport.repeated_events`)."""
        if worth_recording(count):
            self._event(level, message + repeat_note(count))
        else:
            log.debug("%s", message)

    def _event(self, level: str, message: str, *, log_level: str | None = None) -> None:
        getattr(log, log_level or level)(message)
        if self.on_event is not None:
            try:
                self.on_event(level, message)
            except Exception:  # recording must never take the hub down
                log.exception("event callback failed")

    # -- presence -------------------------------------------------------------------------
    @property
    def closing(self) -> bool:
        """True once :meth:`close` has begun: no party is served any more."""
        return self._stopping.is_set()

    def parties(self) -> list[HubParty]:
        """Every party that has joined: those connected now, then those that left (with
        why), by name. Once the hub is closing, every party is reported as disconnected."""
        with self._lock:
            closing = self._stopping.is_set()
            seen = {
                name: self._party(s, connected=not closing, reason="coordinator shut down")
                for name, s in self._sessions.items()
            }
            for name, party in self._departed.items():
                seen.setdefault(name, party)
        return [seen[name] for name in sorted(seen)]

    def _party(self, session: _Session, *, connected: bool, reason: str) -> HubParty:
        """A session as a :class:`HubParty` (call with the lock held)."""
        now_wall, now_mono = time.time(), time.monotonic()
        return HubParty(
            name=session.name,
            connected=connected,
            peer=session.peer,
            joined_at=session.joined_at,
            last_seen=now_wall - (now_mono - session.last_seen),
            joins=self._joins.get(session.name, 0),
            bytes_in=session.bytes_in,
            bytes_out=session.bytes_out,
            left_at=None if connected else now_wall,
            reason=None if connected else reason,
        )


class _OverBudget(ProtocolError):
    """A party made the hub hold more for it than its memory budget."""


def _check_before_hello(frame: bytes) -> None:
    """Before a stream said hello only small whole frames and heartbeats are read: nothing
    a party declares is allocated before it is admitted."""
    tag = frame[:1]
    if tag not in (WHOLE, PING) or len(frame) > _HELLO_FRAME_LIMIT:
        raise ProtocolError(f"expected {HELLO!r} first, got a {tag!r} frame of {len(frame)} B")


class HubChannel(ScopeMixin):
    """The coordinator's :class:`~rengo.transport.channel.Channel` through its own hub (see
    :meth:`GrpcHub.channel`)."""

    def __init__(
        self,
        hub: GrpcHub,
        *,
        watch: Collection[str] = (),
        rejoin_wait: float = 30.0,
        timeout: float | None = None,
    ) -> None:
        self._hub = hub
        self.name = COORDINATOR
        self._watch = list(watch)
        self._rejoin_wait = rejoin_wait
        self._timeout = timeout
        self._absent_since: dict[str, float] = {}

    def send(self, to: str, key: Key, value: Any) -> None:
        """See :meth:`~rengo.transport.channel.Channel.send`."""
        self._hub._post(self.name, to, check_protocol_key(message_key(key)), encode(value))

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        """See :meth:`~rengo.transport.channel.Channel.recv`."""
        limit = self._timeout if timeout is None else timeout
        payload = self._hub._take(frm, message_key(key), limit, self._check)
        return decode_owned(payload)

    def abort(self, exc: BaseException) -> None:
        """See :meth:`~rengo.transport.channel.Channel.abort`."""
        if not isinstance(exc, PeerFailure):
            self._hub.fail(self.name, type(exc).__name__)

    def _check(self) -> None:
        """Fail the run once a watched party has been gone longer than ``rejoin_wait``."""
        if not self._watch:
            return
        now, present = time.monotonic(), set(self._hub.client_ids())
        for name in self._watch:
            if name in present:
                self._absent_since.pop(name, None)
            elif now - self._absent_since.setdefault(name, now) > self._rejoin_wait:
                self._hub.fail(name, f"left and did not come back within {self._rejoin_wait:g}s")


def listen_address(listen: str) -> tuple[str, int]:
    """The host and port of a hub's ``HOST:PORT`` (``[::]:7443`` for IPv6).

    Raises
    ------
    ConfigError
        If it is not ``HOST:PORT`` with a port in 0..65535.
    """
    return host_port(listen, "listen address", "0.0.0.0:7443")


def check_can_listen(listen: str) -> None:
    """Refuse ``listen`` before anything is recorded: not ``HOST:PORT``, or a port another
    process holds (a probe socket binds and closes; gRPC may still lose a race for it).

    Raises
    ------
    ConfigError
        If ``listen`` is malformed, its host unknown or not this machine's, or its port in use.
    """
    host, port = listen_address(listen)
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {listen}: unknown host {host!r} ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {listen}: {exc.strerror or exc} (another process holds the "
                "port, or the host is not an address of this machine)"
            ) from None


LOST_LINK = (
    "connection lost",
    "disconnected",
    "not connected",
    "left",
    "replaced by a new",
    "no heartbeat",  # the link went dead without closing (a NAT forgot it, a VPN dropped)
)
"""How the hub's failure reasons for a party that lost its link (or restarted) begin."""


def peer_host(peer: str) -> str:
    """A gRPC peer string without its port (``ipv4:10.0.0.5:51234`` -> ``ipv4:10.0.0.5``)."""
    return peer.rsplit(":", 1)[0] if peer.count(":") > 1 else peer


def lost_link(reason: str) -> bool:
    """Whether a party's failure ``reason`` (as the hub gives it; a round may prefix it with
    the exchange it failed, ``"evaluate: "``, ``"secagg.masked_input: "``) says it lost its
    link rather than answered wrongly."""
    stage, said, rest = reason.partition(": ")
    if said and stage and not any(c.isspace() for c in stage):
        reason = rest
    return reason.startswith(LOST_LINK)
