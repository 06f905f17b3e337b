"""Role-to-role messaging for multi-party protocols (PSI, vertical LR, transfer learning).

A protocol role receives a :class:`Channel` and only ever calls ``send`` and ``recv``. The
in-process :class:`LocalBus` runs every role in its own thread and still passes every message
through the envelope and codec, so the bytes counted and the transcript recorded are exactly
what would cross a network; the gRPC transport offers the same :class:`Channel`.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rengo.core.codec import decode, encode
from rengo.core.envelope import Envelope, envelope_from_bytes, envelope_to_bytes, message_key
from rengo.core.errors import ChannelTimeout, ProtocolError

Key = str | tuple[object, ...]


class Channel(Protocol):
    """What a protocol role sees of the network."""

    name: str

    def send(self, to: str, key: Key, value: Any) -> None:
        """Send ``value`` (anything the codec encodes) to role ``to`` under ``key``."""

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        """Wait for the value role ``frm`` sent under ``key`` and return it."""


@dataclass(frozen=True)
class TranscriptEntry:
    """One message as it crossed the bus: the exact payload bytes a receiver got."""

    sender: str
    receiver: str
    key: str
    payload: bytes


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
        self._failed: BaseException | None = None

    def channel(self, name: str) -> LocalChannel:
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
                if self._failed is not None:
                    raise ProtocolError(f"{receiver}: another role failed: {self._failed!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChannelTimeout(f"{receiver} waited for {key!r} from {frm} in vain")
                self._cond.wait(min(remaining, 0.5))
            wire = self._queues[slot].popleft()
        env = envelope_from_bytes(wire)
        if env.sender != frm or env.receiver != receiver:
            raise ProtocolError(f"misrouted message {env.key!r} from {env.sender}")
        return decode(bytearray(env.payload))

    def fail(self, exc: BaseException) -> None:
        """Wake every waiting role: one of them failed, the protocol cannot finish."""
        with self._cond:
            if self._failed is None:
                self._failed = exc
            self._cond.notify_all()

    def sent_by(self, name: str) -> list[TranscriptEntry]:
        """Every message role ``name`` sent (needs ``record=True``)."""
        return [e for e in self.transcript if e.sender == name]


class LocalChannel:
    """One role's view of a :class:`LocalBus`."""

    def __init__(self, bus: LocalBus, name: str) -> None:
        self._bus = bus
        self.name = name

    def send(self, to: str, key: Key, value: Any) -> None:
        self._bus._post(self.name, to, message_key(key), value)

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        return self._bus._take(self.name, frm, message_key(key), timeout)


def run_roles(bus: LocalBus, roles: Mapping[str, Callable[[Channel], Any]]) -> dict[str, Any]:
    """Run each role function in its own thread on ``bus`` and return their results by name.

    The first exception raised by any role is re-raised here after all threads stop (the
    others are woken and fail fast instead of waiting for messages that will never come).
    """
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def target(name: str, fn: Callable[[Channel], Any]) -> None:
        try:
            results[name] = fn(bus.channel(name))
        except BaseException as exc:  # re-raised in the caller's thread below
            errors[name] = exc
            bus.fail(exc)

    threads = [
        threading.Thread(target=target, args=(n, f), name=f"role-{n}", daemon=True)
        for n, f in roles.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        first = next(
            (e for e in errors.values() if not isinstance(e, ProtocolError)),
            next(iter(errors.values())),
        )
        raise first
    return results
