"""Role-to-role messaging for multi-party protocols (PSI, vertical LR, transfer learning).

A protocol role receives a :class:`Channel` and only ever calls ``send``, ``recv``,
``scope`` and (when it gives up) ``abort``. The in-process :class:`LocalBus` runs every role
in its own thread and still passes every message through the envelope and codec, so the
bytes counted and the transcript recorded are exactly what would cross a network; the gRPC
transport offers the same :class:`Channel`.

Message keys come from nested scopes, as FATE's context namespaces do: a protocol takes
``channel.scope("hlr")``, each epoch ``.scope(epoch=3)``, each batch ``.scope(batch=0)``,
and sends ``"u"`` there; the wire key is the readable string ``"hlr/epoch=3/batch=0/u"``.

Failure is part of the contract, on every transport: once any role of a run fails (its
function raised, or it called :meth:`Channel.abort`) or a party leaves for good, every
other role's ``recv`` raises :class:`~rengo.core.errors.PeerFailure` naming who failed,
instead of waiting for a message that will never come.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rengo.core.codec import decode_owned, encode
from rengo.core.envelope import Envelope, envelope_from_bytes, envelope_to_bytes, message_key
from rengo.core.errors import ChannelTimeout, PeerFailure, ProtocolError

Key = str | tuple[object, ...]


STILL_WAITING_AFTER_S = 300.0
"""Seconds a deployed role waits for one message before it says so (then each time the
wait doubles): a long silence is a peer computing, or a peer that stopped answering, and the
operator should see which message from whom it is."""


class LongWait:
    """When a wait for one message has gone on long enough to tell the operator: after
    :data:`STILL_WAITING_AFTER_S`, then each time the wait doubles."""

    def __init__(self, first: float | None = None) -> None:
        self.started = time.monotonic()
        self._next = self.started + (STILL_WAITING_AFTER_S if first is None else first)

    def due(self) -> float | None:
        """Seconds waited when a notice is due now (at most one per doubling), else None."""
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = self.started + 2 * (self._next - self.started)
        return now - self.started

    @staticmethod
    def notice(who: str, key: str, frm: str, waited: float) -> str:
        """What a role says when it has waited ``waited`` seconds for ``key`` from ``frm``."""
        span = f"{waited / 60:.0f} min" if waited >= 60 else f"{waited:.1f} s"
        return (
            f"{who} has waited {span} for {key!r} from {frm}: {frm} is "
            "computing, waiting for another role, or stopped answering (each role logs "
            "whom it waits for)"
        )


class Channel(Protocol):
    """What a protocol role sees of the network."""

    name: str

    def send(self, to: str, key: Key, value: Any) -> None:
        """Send ``value`` (anything the codec encodes) to role ``to`` under ``key``."""

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        """Wait for the value role ``frm`` sent under ``key`` and return it.

        Raises :class:`~rengo.core.errors.PeerFailure` once any role of the run has failed
        or left, and :class:`~rengo.core.errors.ChannelTimeout` after ``timeout`` seconds.
        """

    def scope(self, *parts: object, **labels: object) -> Channel:
        """This channel with every key under ``parts`` (``"hlr"``) and ``labels``
        (``epoch=3`` becomes ``"epoch=3"``); scopes nest."""

    def abort(self, exc: BaseException) -> None:
        """Tell every role of the run that this one failed with ``exc`` (only its kind
        leaves the process); a :class:`~rengo.core.errors.PeerFailure` is not re-announced."""


def scope_parts(parts: tuple[object, ...], labels: Mapping[str, object]) -> tuple[str, ...]:
    """The key parts of one scope step: each part as text, each label as ``name=value``."""
    out = [str(part) for part in parts] + [f"{name}={value}" for name, value in labels.items()]
    for part in out:
        if not part or "/" in part or part.startswith("$"):
            raise ValueError(f"scope part {part!r} must be non-empty, without '/' or leading '$'")
    return tuple(out)


class ScopeMixin:
    """Gives a channel :meth:`scope` (every transport's channel inherits it)."""

    def scope(self, *parts: object, **labels: object) -> Scope:
        """See :meth:`Channel.scope`."""
        return Scope(self, scope_parts(parts, labels))  # type: ignore[arg-type]


class Scope(ScopeMixin):
    """A channel whose keys all sit under ``prefix``; everything else goes to ``inner``."""

    def __init__(self, inner: Channel, prefix: tuple[str, ...]) -> None:
        self._inner = inner
        self.prefix = prefix
        self.name = inner.name

    def key(self, key: Key) -> str:
        """The wire key of ``key`` in this scope."""
        return "/".join((*self.prefix, message_key(key)))

    def send(self, to: str, key: Key, value: Any) -> None:
        """See :meth:`Channel.send`."""
        self._inner.send(to, self.key(key), value)

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        """See :meth:`Channel.recv`."""
        return self._inner.recv(frm, self.key(key), timeout)

    def scope(self, *parts: object, **labels: object) -> Scope:
        """See :meth:`Channel.scope`."""
        return Scope(self._inner, (*self.prefix, *scope_parts(parts, labels)))

    def abort(self, exc: BaseException) -> None:
        """See :meth:`Channel.abort`."""
        self._inner.abort(exc)


@dataclass(frozen=True)
class TranscriptEntry:
    """One message as it crossed the bus: the exact payload bytes a receiver got."""

    sender: str
    receiver: str
    key: str
    payload: bytes


@dataclass(frozen=True)
class RoleFailure:
    """The first failure of a run: which role, and its error."""

    role: str
    error: BaseException


class LocalBus:
    """An in-process bus between named roles, with an optional transcript of every message.

    >>> bus = LocalBus(["alice", "bob"], record=True)
    >>> results = run_roles(bus, {"alice": alice_fn, "bob": bob_fn})  # doctest: +SKIP
    """

    def __init__(self, names: list[str], *, record: bool = False, timeout: float = 600.0) -> None:
        if len(set(names)) != len(names):
            raise ValueError(f"role names must be unique: {names}")
        self.names = list(names)
        self.record = record
        self.timeout = timeout
        self.transcript: list[TranscriptEntry] = []
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self._queues: dict[tuple[str, str, str], deque[bytes]] = defaultdict(deque)
        self._cond = threading.Condition()
        self.failure: RoleFailure | None = None

    def channel(self, name: str) -> LocalChannel:
        """The channel through which role ``name`` sends and receives on this bus."""
        if name not in self.names:
            raise ValueError(f"unknown role {name!r}; roles are {self.names}")
        return LocalChannel(self, name)

    def _post(self, sender: str, to: str, key: str, value: Any) -> None:
        if to not in self.names:
            raise ProtocolError(f"{sender} sent {key!r} to unknown role {to!r}")
        wire = envelope_to_bytes(Envelope(sender, to, key, encode(value)))
        with self._cond:
            self.bytes_sent[sender] += len(wire)
            if self.record:
                self.transcript.append(TranscriptEntry(sender, to, key, wire))
            self._queues[(to, sender, key)].append(wire)
            self._cond.notify_all()

    def _take(self, receiver: str, frm: str, key: str, timeout: float | None) -> Any:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        slot = (receiver, frm, key)
        with self._cond:
            while not self._queues[slot]:
                if self.failure is not None:
                    raise self._peer_failure()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChannelTimeout(f"{receiver} waited for {key!r} from {frm} in vain")
                self._cond.wait(min(remaining, 0.5))
            wire = self._queues[slot].popleft()
        env = envelope_from_bytes(wire)
        if env.sender != frm or env.receiver != receiver:
            raise ProtocolError(f"misrouted message {env.key!r} from {env.sender}")
        return decode_owned(env.payload)

    def _peer_failure(self) -> PeerFailure:
        assert self.failure is not None
        role, error = self.failure.role, self.failure.error
        kind = type(error).__name__
        return PeerFailure(role, kind, f"{role} aborted the run ({kind}: {error})")

    def fail(self, exc: BaseException, role: str = "a role") -> None:
        """Record that ``role`` failed with ``exc`` (the first failure wins) and wake every
        waiting role: the protocol cannot finish."""
        with self._cond:
            if self.failure is None:
                self.failure = RoleFailure(role, exc)
            self._cond.notify_all()

    def sent_by(self, name: str) -> list[TranscriptEntry]:
        """Every message role ``name`` sent (needs ``record=True``)."""
        return [e for e in self.transcript if e.sender == name]


class LocalChannel(ScopeMixin):
    """One role's view of a :class:`LocalBus`."""

    def __init__(self, bus: LocalBus, name: str) -> None:
        self._bus = bus
        self.name = name

    def send(self, to: str, key: Key, value: Any) -> None:
        """See :meth:`Channel.send`."""
        self._bus._post(self.name, to, message_key(key), value)

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        """See :meth:`Channel.recv`."""
        return self._bus._take(self.name, frm, message_key(key), timeout)

    def abort(self, exc: BaseException) -> None:
        """See :meth:`Channel.abort`."""
        if not isinstance(exc, PeerFailure):
            self._bus.fail(exc, self.name)


def run_roles(bus: LocalBus, roles: Mapping[str, Callable[[Channel], Any]]) -> dict[str, Any]:
    """Run each role function in its own thread on ``bus`` and return their results by name.

    A role that raises is announced on the bus (its channel's :meth:`~Channel.abort`), so the
    others fail fast with :class:`~rengo.core.errors.PeerFailure` instead of waiting for
    messages that will never come; once every thread stopped, the first failure (the root
    cause, not the peers' reactions to it) is re-raised here.

    When the caller is interrupted while it waits (a ``KeyboardInterrupt``: Ctrl-C, or a
    notebook's "interrupt the kernel"), the interruption is announced on the bus the same
    way and re-raised at once: every role stops at its next ``recv`` instead of training on
    in the background after the caller has given up.
    """
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def target(name: str, fn: Callable[[Channel], Any]) -> None:
        channel = bus.channel(name)
        try:
            results[name] = fn(channel)
        except BaseException as exc:  # re-raised in the caller's thread below
            errors[name] = exc
            channel.abort(exc)

    threads = [
        threading.Thread(target=target, args=(n, f), name=f"role-{n}", daemon=True)
        for n, f in roles.items()
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except BaseException as exc:  # the caller was interrupted: stop the roles too
        bus.fail(exc, "the caller")
        raise
    if errors:
        root = bus.failure.error if bus.failure is not None else None
        if not any(e is root for e in errors.values()):
            root = next(
                (e for e in errors.values() if not isinstance(e, PeerFailure)),
                next(iter(errors.values())),
            )
        assert root is not None
        raise root
    return results
