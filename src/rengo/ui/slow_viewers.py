"""Close dashboard connections that hold a socket without asking for anything.

uvicorn starts no timer when a connection opens, and any byte received stops its keep-alive
timer, so a connection that sends nothing, or one header line now and then (slowloris),
stays open for good: anyone who reaches the port could hold sockets until the process has
none left - and beside ``rengo coordinator --ui`` that process is the coordinator. The check
runs before any token is read, so it needs no credentials to be abused, nor to be fixed.

Every ``seconds`` a connection that is serving no request and started none since the last
look is closed: a viewer has ``seconds`` to ``2 * seconds`` to send a request's head. A
request in progress (a page's long-lived event stream included) is never cut.
"""

from __future__ import annotations

import asyncio
from typing import Any

REQUEST_HEAD_TIMEOUT_S = 10.0
"""Default seconds a dashboard connection may spend without starting a request."""


def request_head_deadline(base: type[asyncio.Protocol], seconds: float) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's HTTP protocol class) with idle and slow connections closed.

    Parameters
    ----------
    base
        uvicorn's HTTP protocol (``h11`` or ``httptools``): it keeps the request it serves in
        ``cycle``, which has ``response_complete``.
    seconds
        How often each connection is looked at; one that started no request between two
        looks and serves none is closed.

    Returns
    -------
    type[asyncio.Protocol]
        A subclass of ``base``.

    Raises
    ------
    ValueError
        If ``seconds`` is not positive.
    """
    if not seconds > 0:
        raise ValueError(f"the request head timeout must be > 0 seconds, got {seconds}")

    class RequestHeadDeadline(base):  # type: ignore[valid-type,misc]
        _deadline: asyncio.TimerHandle | None = None
        _seen: Any = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._seen = self.cycle
            self._deadline = asyncio.get_running_loop().call_later(seconds, self._look)

        def _look(self) -> None:
            cycle = self.cycle
            serving = cycle is not None and not cycle.response_complete
            if not serving and cycle is self._seen:
                self.transport.close()  # connection_lost follows and cleans up
                self._deadline = None
                return
            self._seen = cycle
            self._deadline = asyncio.get_running_loop().call_later(seconds, self._look)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            super().connection_lost(exc)

    RequestHeadDeadline.__name__ = f"RequestHeadDeadline{base.__name__}"
    return RequestHeadDeadline
