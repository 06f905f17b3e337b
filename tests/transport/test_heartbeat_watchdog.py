"""A party's heartbeat watchdog: a session that hears nothing for the heartbeat timeout is
cancelled, and its channel closed when the cancel does not end it (a call made while the
coordinator's server stopped stayed blocked after its cancel, and the party with it)."""

from __future__ import annotations

import threading
import time
from typing import Any

from rengo.transport.grpc_party import PartyConnection
from rengo.transport.grpc_security import PartyCredentials


class _Call:
    """A call whose cancel ends the session (``done``) or not."""

    def __init__(self, done: threading.Event, cancel_ends_it: bool) -> None:
        self.done, self.cancel_ends_it, self.cancelled = done, cancel_ends_it, 0

    def cancel(self) -> None:
        self.cancelled += 1
        if self.cancel_ends_it:
            self.done.set()


class _Channel:
    def __init__(self, done: threading.Event) -> None:
        self.done, self.closed = done, 0

    def close(self) -> None:
        self.closed += 1
        self.done.set()


def _watched(cancel_ends_it: bool) -> tuple[_Call, _Channel]:
    party = PartyConnection(
        "127.0.0.1:1",
        "alice",
        PartyCredentials(insecure=True),
        heartbeat_interval=0.02,
        heartbeat_timeout=0.05,
    )
    done = threading.Event()
    call, channel = _Call(done, cancel_ends_it), _Channel(done)
    silent_since: list[float] = [time.monotonic() - 1.0]  # heard nothing for a second
    watchdog: Any = threading.Thread(
        target=party._watch, args=(call, channel, silent_since, done), daemon=True
    )
    watchdog.start()
    watchdog.join(10)
    assert not watchdog.is_alive()
    return call, channel


def test_a_silent_session_whose_cancel_does_not_end_it_has_its_channel_closed() -> None:
    call, channel = _watched(cancel_ends_it=False)
    assert (call.cancelled, channel.closed) == (1, 1)


def test_a_silent_session_that_its_cancel_ends_keeps_its_channel_to_the_session() -> None:
    call, channel = _watched(cancel_ends_it=True)
    assert (call.cancelled, channel.closed) == (1, 0)
