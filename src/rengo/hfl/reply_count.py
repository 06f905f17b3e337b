"""Progress inside a round: a client pool that tells a listener each time a reply arrives.

A simulated round of hundreds of clients can take minutes; the progress bar over rounds
moved only when one ended. :class:`RepliesCounted` wraps the run's pool and reports
``(key, replies so far, requests)`` after every reply of every exchange (``fit``,
``evaluate``, a secure aggregation stage), so the bar can show how far the round has come.
Pools yield replies in request order, so the count is the replies handed to the round so far.
It also totals the bytes of every exchange (:attr:`RepliesCounted.bytes_sent`, ``received``),
which a simulation records in its run's summary as a deployed coordinator does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rengo.transport.pool import ClientPool, Reply, Request

ReplyListener = Callable[[str, int, int], None]
"""``listener(key, replies, requests)``: ``replies`` of an exchange's ``requests`` under
``key`` have arrived."""


class RepliesCounted:
    """``inner`` (a :class:`~rengo.transport.pool.ClientPool`), counting replies for
    ``listener`` (settable later; None: nobody is told)."""

    def __init__(self, inner: ClientPool, listener: ReplyListener | None = None) -> None:
        self.inner = inner
        self.listener = listener
        self.bytes_sent = 0
        """Bytes of every request sent to the clients so far."""
        self.bytes_received = 0
        """Bytes of every reply received from them so far."""

    def client_ids(self) -> list[str]:
        """See :meth:`~rengo.transport.pool.ClientPool.client_ids`."""
        return self.inner.client_ids()

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        """See :meth:`~rengo.transport.pool.ClientPool.request`; the listener hears of each
        reply before the caller gets it, and its bytes are counted."""
        total = len(requests)
        for done, reply in enumerate(self.inner.request(requests, timeout), start=1):
            self.bytes_sent += reply.bytes_sent
            self.bytes_received += reply.bytes_received
            if self.listener is not None:
                self.listener(reply.key, done, total)
            yield reply

    def close(self) -> None:
        """See :meth:`~rengo.transport.pool.ClientPool.close`."""
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # what a pool offers beyond the protocol (a hub's ``notify``) stays reachable; no
        # ``inner`` yet (a copy under construction) is a plain missing attribute
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
