"""A party's side of the gRPC transport: one outbound stream to the coordinator's hub.

:class:`PartyConnection` connects (outbound only, firewall friendly), says hello, answers the
hub's requests with a :data:`~rengo.transport.pool.Handler` (keeping the client's state in
this process), sends heartbeats, and reconnects with exponential backoff when the link or the
coordinator goes away. It returns when the coordinator says the run is over. Vertical
protocols talk through :meth:`PartyConnection.channel`, a
:class:`~rengo.transport.channel.Channel` whose messages the hub routes to other parties.

The channel keeps the failure contract: a role that aborts tells the hub, which tells every
other party; a party whose link to the coordinator is gone for good, or came back mid-run
(messages in flight may be lost), fails its waits with :class:`ProtocolError` instead of
hanging.

Failures that retrying cannot mend end the connection at once with one clear error: the hub
refused this party (:class:`AuthenticationError`), TLS cannot be set up - a certificate
from another CA, or TLS against ``--insecure`` - (:class:`HandshakeError`, saying which
side), another instance of this party took its place (:class:`DuplicatePartyError`), or
the link came back to a new coordinator process of a vertical run (the coordinator was
restarted to resume it) that holds none of this process's run state
(:class:`StalePartyError`). A party that comes back after the run ended is told so
(``run RUN finished``) and returns.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import secrets
import threading
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from rengo.core.codec import decode_owned, encode
from rengo.core.envelope import Envelope, message_key
from rengo.core.errors import (
    AuthenticationError,
    ChannelTimeout,
    CodecError,
    ConfigError,
    CoordinatorUnreachable,
    DuplicatePartyError,
    HandshakeError,
    LinkDropped,
    MessageTooLarge,
    PeerFailure,
    ProtocolError,
    ReleaseMismatchError,
    StalePartyError,
)
from rengo.core.roles import COORDINATOR, validate_party_name
from rengo.transport.addresses import host_port
from rengo.transport.channel import Key, LongWait, ScopeMixin
from rengo.transport.data_report import data_report_payload
from rengo.transport.dial_failures import no_answer, refused_for_good, why_unreachable
from rengo.transport.grpc_frames import (
    DEFAULT_MAX_MESSAGE,
    PING,
    PING_FRAME,
    FrameAssembler,
    OutgoingMessage,
    PayloadOverLimit,
    check_message_limit,
    envelope_frames,
    queued_size,
)
from rengo.transport.grpc_security import PartyCredentials, warn_insecure
from rengo.transport.grpc_wire import (
    ABORT,
    BYE,
    CHANNEL_OPTIONS,
    DATA_FILES,
    FULL_METHOD,
    HELLO,
    NOTICE,
    NOTICE_LIMIT,
    RELEASE_REFUSAL,
    REPLY_ERROR,
    REPLY_OK,
    RPC_PREFIX,
    WELCOME,
    check_coordinator_release,
    check_heartbeat,
    check_protocol_key,
    hello_payload,
    parse_rpc_key,
    parse_welcome,
    party_text,
    rpc_key,
)
from rengo.transport.pool import Handler
from rengo.transport.proxies import ProxyRoute, grpc_proxy_route
from rengo.transport.tls_probe import diagnose_handshake

log = logging.getLogger("rengo.transport")

_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
FAREWELL_LIMIT = 2000
"""Characters of the coordinator's goodbye a party keeps and logs."""
_FAILED = re.compile(r"(run \S+|the run) failed\b")
"""A goodbye saying the run failed (see :meth:`GrpcHub.close`'s ``outcome``)."""
_NOTICES_KEPT = 100


@dataclass(frozen=True)
class Backoff:
    """Reconnection schedule: ``initial * factor**n`` seconds, capped at ``maximum``, with
    +-``jitter`` relative noise; give up after ``give_up_after`` seconds without a session
    (None: never)."""

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 10.0
    jitter: float = 0.2
    give_up_after: float | None = 600.0

    def delays(self, rng: random.Random) -> Iterator[float]:
        """The successive reconnection delays: exponential with jitter, capped."""
        delay = self.initial
        while True:
            yield delay * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))
            delay = min(delay * self.factor, self.maximum)


DEFAULT_BACKOFF = Backoff()


class InboxFlooded(ProtocolError):
    """A sender left more unread bytes in this party's inbox than its budget allows."""

    def __init__(self, sender: str, message: str) -> None:
        super().__init__(message)
        self.sender = sender


class PartyConnection:
    """A party's link to the hub at ``address`` (``host:port``).

    Messages other roles send it wait in its inbox until its role asks for them; what one
    sender has waiting there is capped at ``inbox_budget`` bytes (default: one largest
    message plus 64 MiB, the hub's own budget per party). A sender past it floods this party
    with messages its role never asks for: the rest of that sender's messages are dropped and
    the role's next wait fails with a :class:`ProtocolError` naming it, so the run stops
    with a clear error instead of this process running out of memory.

    ``max_message_bytes`` is the largest message it accepts, and sends: a role's message
    over it raises :class:`~rengo.core.errors.MessageTooLarge` at ``send``, naming the
    limit and how to raise it, instead of reaching a hub with the same limit, which would
    cut this party off mid-run (its operator then saw only that the link dropped).

    ``data_files`` (``{path: sha256 hex}``) are reported to the hub after every hello, so
    the run records what this party says it trains on (:mod:`rengo.transport.data_report`).

    ``on_welcome`` is called with the run's id (None where the coordinator records no run)
    each time the hub welcomes this party, on the connection's thread: so that a party's
    log records can name the run it serves (an exception it raises is logged, not raised).

    Raises
    ------
    ConfigError
        If ``address`` is not ``HOST:PORT`` (gRPC would dial port 443 for a bare host),
        ``max_message_bytes`` is not a positive whole number, ``inbox_budget`` cannot
        hold one message of ``max_message_bytes``, or ``heartbeat_timeout`` is not longer
        than ``heartbeat_interval``.
    """

    def __init__(
        self,
        address: str,
        name: str,
        credentials: PartyCredentials,
        *,
        handler: Handler | None = None,
        heartbeat_interval: float = 2.0,
        heartbeat_timeout: float | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
        seed: int | None = None,
        inbox_budget: int | None = None,
        data_files: Mapping[str, str] | None = None,
        on_welcome: Callable[[str | None], None] | None = None,
    ) -> None:
        host, _ = host_port(address, "coordinator address", "coordinator.example.org:7443", 1)
        check_heartbeat(heartbeat_interval, heartbeat_timeout)
        self.address = address
        self.host = host
        self.proxy: ProxyRoute | None = (
            grpc_proxy_route(host) if credentials.use_http_proxy else None
        )
        """The HTTP proxy gRPC dials the coordinator through (from the environment), or None."""
        self.last_failure: str | None = None
        """Why the latest attempt to reach the coordinator failed, while none succeeded."""
        self.name = validate_party_name(name)
        self.credentials = credentials
        self.handler = handler
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout or 5 * heartbeat_interval
        self.backoff = backoff
        self.max_message_bytes = max_message_bytes
        self.sessions = 0
        self._data_report = data_report_payload(data_files) if data_files else None
        self._on_welcome_hook = on_welcome
        self.instance = secrets.token_hex(8)
        """This process's connection, told to the hub in every hello: a reconnection says
        the same, a restarted party another (it has none of a running protocol's state)."""
        self._client_errors: set[tuple[str, str]] = set()
        self._rng = random.Random(seed)
        self._state: dict[str, bytes | None] = {}
        self._lock = threading.Condition()
        self._outbox: queue.SimpleQueue[OutgoingMessage | None] | None = None
        self._unsent: deque[OutgoingMessage] = deque()
        self._inbox: dict[tuple[str, str], deque[bytes]] = defaultdict(deque)
        check_message_limit(max_message_bytes)
        self.inbox_budget = (
            inbox_budget if inbox_budget is not None else max_message_bytes + 64 * 1024**2
        )
        if self.inbox_budget < max_message_bytes:
            raise ConfigError(
                f"inbox_budget ({self.inbox_budget} B) must hold at least one message of "
                f"max_message_bytes ({max_message_bytes} B)"
            )
        self._inbox_bytes: dict[str, int] = defaultdict(int)  # unread bytes by sender
        self._flooded: InboxFlooded | None = None
        self._work: queue.SimpleQueue[tuple[queue.SimpleQueue[Any], int, str, bytes] | None] = (
            queue.SimpleQueue()
        )
        self._reachable_said = False  # "cannot reach" said in this stretch without a session
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._connected = threading.Event()
        self._call: Any = None
        self._thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self.error: BaseException | None = None
        self.failure: PeerFailure | None = None
        self.run_id: str | None = None
        self.farewell: str | None = None
        self.notices: deque[str] = deque(maxlen=_NOTICES_KEPT)
        """What the coordinator said about this party's own results (a result not counted
        and why, a claim counted at a cap), newest last; each is also logged as a warning."""
        if credentials.insecure:
            warn_insecure(f"party {name}")

    # -- running --------------------------------------------------------------------------
    def run(self) -> None:
        """Stay connected until the coordinator ends the run (or :meth:`close`).

        Raises
        ------
        AuthenticationError
            If the hub refuses this party (retrying would not help); its subclass
            :class:`HandshakeError` if TLS cannot be set up between the two (another CA,
            TLS against plain text), naming which side is wrong.
        ReleaseMismatchError
            (An AuthenticationError.) If the hub refuses this party's wire format, or this
            party refuses the hub's (its welcome names another format, or none).
        DuplicatePartyError
            If another instance of this party connected and replaced this one.
        StalePartyError
            If the link came back to a new coordinator process of a vertical run (it was
            restarted to resume the run): this process holds the old one's run state.
        CoordinatorUnreachable
            After ``backoff.give_up_after`` seconds without a session, saying why the last
            attempt failed; at once if the HTTP proxy it dials through refuses the tunnel
            by its rules (403) or for want of credentials (407).
        """
        self._worker = threading.Thread(
            target=self._work_loop, name="rengo-party-work", daemon=True
        )
        self._worker.start()
        delays = self.backoff.delays(self._rng)
        unconnected_since = time.monotonic()
        try:
            while not self._stop.is_set():
                welcomed = self._session()
                if self._ended.is_set() or self._stop.is_set():
                    return
                if welcomed:
                    delays = self.backoff.delays(self._rng)
                    unconnected_since = time.monotonic()
                limit = self.backoff.give_up_after
                if limit is not None and time.monotonic() - unconnected_since > limit:
                    last = f" (its last run: {self.run_id})" if self.run_id else ""
                    why = (
                        f": {self.last_failure}"
                        if self.last_failure
                        else "; is it running, and is the address right?"
                    )
                    raise CoordinatorUnreachable(
                        f"party {self.name}: no coordinator at {self.address} for {limit:g}s"
                        f"{last}{why}"
                    )
                delay = next(delays)
                log.info("party %s: reconnecting to %s in %.2fs", self.name, self.address, delay)
                self._stop.wait(delay)
        finally:
            self._work.put(None)

    def start(self) -> PartyConnection:
        """Run in a background thread (see :meth:`wait_connected`, :meth:`join`)."""

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:
                self.error = exc
            finally:  # a run that ended before a welcome (told so at hello) wakes waiters
                self._connected.set()

        self._thread = threading.Thread(target=target, name=f"rengo-party-{self.name}", daemon=True)
        self._thread.start()
        return self

    def wait_connected(self, timeout: float | None = None) -> None:
        """Block until the hub welcomed this party or the connection ended (the run was
        over when it said hello: see :attr:`ended`); re-raises a refusal."""
        if not self._connected.wait(timeout):
            raise ChannelTimeout(f"party {self.name} not connected after {timeout}s")
        if self.error is not None:
            raise self.error

    def join(self, timeout: float | None = None) -> None:
        """Wait for :meth:`start`'s thread to end; re-raises its error."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Leave: tell the hub (if connected) and stop reconnecting."""
        with self._lock:
            outbox = self._outbox
        if outbox is not None:
            outbox.put(OutgoingMessage(self.name, COORDINATOR, BYE, b""))
            outbox.put(None)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        call = self._call
        if call is not None:
            call.cancel()

    @property
    def ended(self) -> bool:
        """True once the coordinator said the run is over."""
        return self._ended.is_set()

    @property
    def connected(self) -> bool:
        """True while a session with the hub is open (or the run ended)."""
        return self._connected.is_set()

    @property
    def run_failed(self) -> bool:
        """True if the coordinator's goodbye (:attr:`farewell`) says the run failed
        (``run RUN failed (...)``), not that it completed."""
        return self.farewell is not None and _FAILED.match(self.farewell) is not None

    def __enter__(self) -> PartyConnection:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def channel(self, *, timeout: float | None = None) -> GrpcChannel:
        """This party's :class:`~rengo.transport.channel.Channel` to the other roles;
        ``timeout`` caps every wait that names none (default: wait as long as the link
        lives)."""
        return GrpcChannel(self, timeout=timeout)

    # -- one session ----------------------------------------------------------------------
    def _open(self) -> grpc.Channel:
        credentials = self.credentials.channel_credentials()
        options: list[tuple[str, Any]] = [*CHANNEL_OPTIONS, *self.credentials.extra_options]
        if self.credentials.server_name:
            options.append(("grpc.ssl_target_name_override", self.credentials.server_name))
        if not self.credentials.use_http_proxy:
            options.append(("grpc.enable_http_proxy", 0))
        if credentials is None:
            return grpc.insecure_channel(self.address, options=options)
        return grpc.secure_channel(self.address, credentials, options=options)

    def _session(self) -> bool:
        """One connection attempt; True if the hub welcomed us before it ended."""
        outbox: queue.SimpleQueue[OutgoingMessage | None] = queue.SimpleQueue()
        hello = hello_payload(self.instance, welcomed_before=self.sessions > 0)
        outbox.put(OutgoingMessage(self.name, COORDINATOR, HELLO, hello))
        if self._data_report is not None:  # every session: a rejoin reports its data again
            outbox.put(OutgoingMessage(self.name, COORDINATOR, DATA_FILES, self._data_report))
        welcomed = False
        last_seen = [time.monotonic()]
        done = threading.Event()
        with self._open() as channel:
            stub = channel.stream_stream(FULL_METHOD)
            call = stub(self._frames(outbox), metadata=self.credentials.metadata(self.name))
            self._call = call
            watchdog = threading.Thread(
                target=self._watch, args=(call, channel, last_seen, done), daemon=True
            )
            watchdog.start()
            assembler = FrameAssembler(self.max_message_bytes)
            try:
                for frame in call:
                    last_seen[0] = time.monotonic()
                    item = assembler.feed(frame)
                    if item is None or item == PING:
                        continue
                    assert isinstance(item, Envelope)
                    if item.key == WELCOME:
                        self.run_id, release, wire = parse_welcome(bytes(item.payload))
                        compatible = check_coordinator_release(self.name, release, wire)
                        if compatible is not None:
                            log.warning("%s", compatible)
                        welcomed = True
                        self._on_welcome(outbox)
                    elif item.key == BYE:
                        # the coordinator's own words, logged here: one printable line
                        self.farewell = (
                            party_text(bytes(item.payload), FAREWELL_LIMIT) or "the run finished"
                        )
                        self._ended.set()
                        log.info("party %s: %s", self.name, self.farewell)
                        break
                    else:
                        self._on_envelope(outbox, item)
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                details = str(exc.details() if hasattr(exc, "details") else exc)
                if code in _REFUSED:
                    refused = ReleaseMismatchError if RELEASE_REFUSAL in details else None
                    raise (refused or AuthenticationError)(
                        f"coordinator refused party {self.name}: {details}"
                    ) from exc
                if code == grpc.StatusCode.ALREADY_EXISTS:
                    raise DuplicatePartyError(f"party {self.name}: {details}") from exc
                if code == grpc.StatusCode.ABORTED and not welcomed:
                    raise StalePartyError(f"party {self.name}: {details}") from exc
                if code == grpc.StatusCode.UNAVAILABLE and not welcomed:
                    why = diagnose_handshake(self.address, self.credentials, details, self.proxy)
                    if why is not None:
                        raise HandshakeError(
                            f"party {self.name}: {why}{self._inspected()}"
                        ) from exc
                    if self.proxy is not None and refused_for_good(details):
                        raise CoordinatorUnreachable(
                            f"party {self.name}: cannot reach {self.address}: "
                            f"{why_unreachable(self.host, details, self.proxy)}"
                        ) from exc
                if self._stop.is_set():
                    pass
                elif welcomed:  # with the hub's reason: a message over its limit ...
                    said = f" ({details[:300]})" if details else ""
                    log.warning("party %s: connection lost: %s%s", self.name, code, said)
                elif code == grpc.StatusCode.CANCELLED:
                    self._unreachable(no_answer(self.proxy, self.heartbeat_timeout))
                else:
                    self._unreachable(why_unreachable(self.host, details, self.proxy))
            except PayloadOverLimit as exc:
                log.warning("party %s: message from coordinator too large: %s", self.name, exc)
            except CodecError as exc:
                log.warning("party %s: malformed data from coordinator: %s", self.name, exc)
            finally:
                done.set()
                with self._lock:
                    if self._outbox is outbox:
                        self._outbox = None
                if not self._ended.is_set():
                    self._connected.clear()
                outbox.put(None)
                self._call = None
                call.cancel()
        return welcomed

    def _inspected(self) -> str:
        """``; or the HTTP proxy ... inspects TLS ...`` for a party that dials through a
        proxy: one that inspects TLS presents its own certificate, which this party refuses
        as if the coordinator's were wrong (the handshake probe, which goes through the
        proxy too, sees the proxy's certificate as well)."""
        if self.proxy is None:
            return ""
        return (
            f"; or {self.proxy.described()}, which this party dials through, inspects TLS and "
            "shows its own certificate: set no_proxy=HOST or pass --no-proxy, or ask its "
            "operator to let the coordinator's host through uninspected"
        )

    def _unreachable(self, why: str) -> None:
        """Say once per stretch without a session that the coordinator cannot be reached
        (no connection was lost: none existed), why, and for how long it is retried; again
        (a warning) only when the reason changes."""
        limit = self.backoff.give_up_after
        repeated = self._reachable_said and why == self.last_failure
        self.last_failure = why
        if repeated:
            log.info("party %s: still cannot reach %s: %s", self.name, self.address, why)
            return
        self._reachable_said = True
        log.warning(
            "party %s: cannot reach %s: %s; retrying %s",
            self.name,
            self.address,
            why,
            f"for up to {limit:g}s" if limit is not None else "until stopped",
        )

    def _frames(self, outbox: queue.SimpleQueue[OutgoingMessage | None]) -> Iterator[bytes]:
        while True:
            try:
                item = outbox.get(timeout=self.heartbeat_interval)
            except queue.Empty:
                yield PING_FRAME
                continue
            if item is None:
                return
            yield from envelope_frames(item)

    def _watch(
        self, call: Any, channel: grpc.Channel, last_seen: list[float], done: threading.Event
    ) -> None:
        """Cancel a session that heard nothing for ``heartbeat_timeout``; close its channel
        too if the cancel did not end it within a heartbeat interval: a call made while its
        coordinator's server was stopping (a vertical run taking its parties back) was seen
        to stay blocked after its cancel, and the party with it, until its grace ran out;
        closing the channel ends it, and the party reconnects."""
        while not done.wait(self.heartbeat_interval):
            if time.monotonic() - last_seen[0] > self.heartbeat_timeout:
                if self._connected.is_set():  # else no coordinator ever answered: _unreachable
                    log.warning(
                        "party %s: no heartbeat from the coordinator; reconnecting", self.name
                    )
                call.cancel()
                if not done.wait(self.heartbeat_interval):
                    log.info(
                        "party %s: the cancelled call did not end; closing its channel", self.name
                    )
                    channel.close()
                return

    def _on_welcome(self, outbox: queue.SimpleQueue[OutgoingMessage | None]) -> None:
        with self._lock:
            self._outbox = outbox
            while self._unsent:
                outbox.put(self._unsent.popleft())
        self.sessions += 1
        self._reachable_said = False
        self.last_failure = None
        if self._on_welcome_hook is not None:
            try:
                self._on_welcome_hook(self.run_id)
            except Exception:  # the caller's bookkeeping must not end the session
                log.exception("party %s: on_welcome failed", self.name)
        self._connected.set()
        log.info("party %s: connected to %s", self.name, self.address)

    def _on_envelope(
        self, outbox: queue.SimpleQueue[OutgoingMessage | None], env: Envelope
    ) -> None:
        if env.sender == COORDINATOR and env.key.startswith(RPC_PREFIX):
            call_id, key = parse_rpc_key(env.key)
            self._work.put((outbox, call_id, key, env.payload))
            return
        if env.sender == COORDINATOR and env.key == NOTICE:
            text = bytes(env.payload[: NOTICE_LIMIT * 4]).decode("utf-8", "replace")
            line = " ".join(text.split())[:NOTICE_LIMIT]
            self.notices.append(line)
            log.warning("party %s: the coordinator says: %s", self.name, line)
            return
        if env.key == ABORT:
            reason = bytes(env.payload[:200]).decode("utf-8", "replace") or "failed"
            with self._lock:
                if self.failure is None:
                    self.failure = PeerFailure(env.sender, reason)
                self._lock.notify_all()
            # info, not warning: every wait of this party raises it (the CLI prints it once)
            log.info("party %s: %s aborted the run (%s)", self.name, env.sender, reason)
            return
        size = queued_size(env.sender, self.name, env.key, len(env.payload))
        with self._lock:
            if self._flooded is not None and self._flooded.sender == env.sender:
                return  # the run stops over it; keep nothing more of it
            if self._inbox_bytes[env.sender] + size > self.inbox_budget:
                self._flooded = InboxFlooded(
                    env.sender,
                    f"party {self.name}: {env.sender} sent more than {self.inbox_budget} bytes "
                    f"this party's role has not asked for (its inbox budget per sender); "
                    f"the run stops",
                )
                log.error("%s", self._flooded)
                self._lock.notify_all()
                return
            self._inbox_bytes[env.sender] += size
            self._inbox[(env.sender, env.key)].append(bytes(env.payload))
            self._lock.notify_all()

    def _work_loop(self) -> None:
        """Answer the hub's requests one at a time, off the reading thread (heartbeats and
        channel messages keep flowing while a client trains)."""
        while True:
            job = self._work.get()
            if job is None:
                return
            outbox, call_id, key, payload = job
            if self.handler is None:
                outcome, body = REPLY_ERROR, b"this party serves no requests"
            else:
                try:
                    reply, state = self.handler(self.name, key, payload, self._state.get(self.name))
                    self._state[self.name] = state
                    outcome, body = REPLY_OK, reply
                except Exception as exc:  # report to the coordinator; stay connected
                    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
                    self._log_client_error(key, text, exc)
                    outcome, body = REPLY_ERROR, f"raised {text}".encode()
            outbox.put(OutgoingMessage(self.name, COORDINATOR, rpc_key(call_id, outcome), body))

    def _log_client_error(self, key: str, text: str, exc: Exception) -> None:
        """This party's client raised: its traceback the first time (it stays here; the
        coordinator gets the one-line reason), repeats at debug level only."""
        seen = self._client_errors
        if (key, text) in seen:
            log.debug("party %s: %s failed again: %s", self.name, key, text)
            return
        seen.add((key, text))
        log.warning("party %s: %s failed: %s", self.name, key, text, exc_info=exc)

    # -- channel plumbing -----------------------------------------------------------------
    def _post(self, to: str, key: str, payload: bytes) -> None:
        size = memoryview(payload).nbytes
        if size > self.max_message_bytes:  # the hub would cut this party off mid-run
            raise MessageTooLarge(
                f"party {self.name}: message {key!r} to {to} is {size} bytes, over the run's "
                f"message limit of {self.max_message_bytes} bytes: raise it alike on the "
                "coordinator and every party (rengo vfl coordinator and party "
                "--max-message-mb, or [vfl] max_message_mb in the job file)"
            )
        message = OutgoingMessage(self.name, to, key, payload)
        with self._lock:
            if self._outbox is None:
                self._unsent.append(message)
            else:
                self._outbox.put(message)

    def _announce_failure(self, exc: BaseException) -> None:
        """Tell the hub (which tells every other party) that this party's role failed; only
        the error's kind leaves (its message may name IDs or values), and for a flooded
        inbox the party that flooded it, so the coordinator's record names the culprit."""
        if isinstance(exc, PeerFailure):
            return  # the others already know who failed first
        reason = type(exc).__name__
        if isinstance(exc, InboxFlooded):
            reason = f"{reason} by {exc.sender}"
        with self._lock:
            if self.failure is None:
                self.failure = PeerFailure(self.name, reason)
        self._post(COORDINATOR, ABORT, reason.encode())

    def _take(self, frm: str, key: str, timeout: float | None, check: Callable[[], None]) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        long_wait = LongWait()
        with self._lock:
            while not self._inbox.get((frm, key)):
                if self.failure is not None:
                    raise self.failure
                if self._flooded is not None:
                    raise self._flooded
                waited = long_wait.due()
                if waited is not None:
                    log.warning("%s", LongWait.notice(f"party {self.name}", key, frm, waited))
                if self.error is not None:
                    raise ProtocolError(f"party {self.name} stopped: {self.error}") from self.error
                check()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ChannelTimeout(f"{self.name} waited for {key!r} from {frm} in vain")
                self._lock.wait(0.5 if remaining is None else min(remaining, 0.5))
            waiting = self._inbox[(frm, key)]
            payload = waiting.popleft()
            if not waiting:  # keys come and go over a run: keep only those holding messages
                del self._inbox[(frm, key)]
            self._inbox_bytes[frm] -= queued_size(frm, self.name, key, len(payload))
            return payload


class GrpcChannel(ScopeMixin):
    """A party's :class:`~rengo.transport.channel.Channel` over its hub connection: ``send``
    goes to the hub, which checks the sender and routes it; ``recv`` waits for a message and
    fails fast (see the module docstring) when the run cannot finish."""

    def __init__(self, connection: PartyConnection, *, timeout: float | None = None) -> None:
        self._conn = connection
        self.name = connection.name
        self._timeout = timeout
        self._session = 0

    def send(self, to: str, key: Key, value: Any) -> None:
        """See :meth:`~rengo.transport.channel.Channel.send`."""
        self._conn._post(to, check_protocol_key(message_key(key)), encode(value))

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        """See :meth:`~rengo.transport.channel.Channel.recv`."""
        limit = self._timeout if timeout is None else timeout
        return decode_owned(self._conn._take(frm, message_key(key), limit, self._check))

    def abort(self, exc: BaseException) -> None:
        """See :meth:`~rengo.transport.channel.Channel.abort`."""
        self._conn._announce_failure(exc)

    def _check(self) -> None:
        """Raise once the link is gone for good, the coordinator ended the run, or the link
        was re-established after this channel first used it (messages may be lost)."""
        conn = self._conn
        if conn.ended:
            said = f": {conn.farewell}" if conn.farewell else ""
            raise ProtocolError(f"{self.name}: the coordinator ended the run{said}")
        if self._session == 0:
            self._session = conn.sessions
        elif conn.sessions != self._session:
            raise LinkDropped(
                f"{self.name}: the link to the coordinator dropped mid-run and messages in "
                "flight may be lost, so this process cannot go on with the run: start this "
                "party again (with the same --checkpoints folder, if the run keeps them) for "
                "the resumed run (--resume RUN), or start a new run"
            )
