"""A :class:`~rengo.transport.channel.Channel` for deployed multi-party protocols that fails
fast instead of hanging when a peer gives up.

In simulation :func:`~rengo.transport.channel.run_roles` wakes every role when one fails. Over
the network each role is in its own process, so a role that fails sends an *abort* to every
peer, and every wait also watches the link (``check``): a coordinator gone for good, or a
party that left and did not come back, ends the wait with :class:`ProtocolError`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from rengo.core.errors import ChannelTimeout, ProtocolError
from rengo.transport.channel import Channel, Key

ABORT: Key = ("vfl-deploy", "abort")  # any role -> every peer: this run failed


class GuardedChannel:
    """Wraps ``inner``: every ``recv`` wakes each ``poll`` seconds to look for an abort from
    ``peers`` and to run ``check`` (which raises when the link is gone); ``timeout`` caps a
    wait that names none."""

    def __init__(
        self,
        inner: Channel,
        peers: Sequence[str],
        *,
        check: Callable[[], None] | None = None,
        timeout: float | None = None,
        poll: float = 0.5,
    ) -> None:
        self._inner = inner
        self.name = inner.name
        self.peers = [p for p in peers if p != inner.name]
        self._check = check
        self._timeout = timeout
        self._poll = poll

    def send(self, to: str, key: Key, value: Any) -> None:
        self._inner.send(to, key, value)

    def recv(self, frm: str, key: Key, timeout: float | None = None) -> Any:
        limit = self._timeout if timeout is None else timeout
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            wait = self._poll
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0.0))
            try:
                return self._inner.recv(frm, key, wait)
            except ChannelTimeout:
                pass
            self.raise_if_aborted()
            if self._check is not None:
                self._check()
            if deadline is not None and time.monotonic() >= deadline:
                raise ChannelTimeout(f"{self.name} waited {limit:g}s for {key!r} from {frm}")

    def raise_if_aborted(self) -> None:
        """Raise :class:`ProtocolError` if a peer has told us the run failed."""
        for peer in self.peers:
            try:
                reason = self._inner.recv(peer, ABORT, 0.0)
            except ChannelTimeout:
                continue
            raise ProtocolError(f"{peer} aborted the run ({reason!s:.200})")

    def abort(self, exc: BaseException) -> None:
        """Tell every peer the run failed. Only the error's kind is sent: its message may
        name IDs or values that must not leave this role."""
        for peer in self.peers:
            with contextlib.suppress(Exception):  # best effort: the caller re-raises exc
                self._inner.send(peer, ABORT, type(exc).__name__)
