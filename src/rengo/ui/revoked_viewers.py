"""Keep certificates the federation revoked out of the dashboard, as the coordinator does.

A dashboard started with the deployment's certificates (``rengo ui --certs DIR``, ``rengo
coordinator --ui``) lets in browsers whose client certificate the federation's CA signed.
``rengo certs revoke DIR NAME`` takes a party's admission back; the coordinator refuses it at
once (:class:`~rengo.transport.revocation.RevocationList`), and so must the page that shows
who is in the federation and what each party is paid.

TLS itself cannot ask the list (OpenSSL's own CRL check would lock everyone out once the
list's next-update date passed), so the check runs on each connection once its handshake is
done: a connection whose certificate is revoked is closed before it reads anything, and an
open one - a live page holds its event stream for as long as the tab is open - is closed
within :data:`SWEEP_INTERVAL_S` of the revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from rengo.transport.revocation import RevocationList

log = logging.getLogger("rengo.ui")

SWEEP_INTERVAL_S = 2.0
"""Seconds between the checks of the open connections against the revocation list."""


def peer_serial(transport: asyncio.BaseTransport) -> int | None:
    """The serial number of the client certificate a TLS connection presented (None without
    TLS or a certificate)."""
    cert = transport.get_extra_info("peercert")
    if not cert or "serialNumber" not in cert:
        return None
    return int(cert["serialNumber"], 16)


class RevokedViewerGuard:
    """Closes dashboard connections whose client certificate is revoked: new ones at once,
    open ones at the next sweep.

    Parameters
    ----------
    revocations
        The federation's revocation list (re-read when its file changes).
    """

    def __init__(self, revocations: RevocationList) -> None:
        self.revocations = revocations
        self._open: dict[asyncio.BaseTransport, tuple[int, asyncio.AbstractEventLoop]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def protocol(self, base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
        """``base`` (uvicorn's HTTP protocol) with every connection checked by this guard."""
        guard = self

        class RevocationChecked(base):  # type: ignore[valid-type,misc]
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                guard.admit(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                guard.forget(getattr(self, "transport", None))
                super().connection_lost(exc)

        RevocationChecked.__name__ = f"RevocationChecked{base.__name__}"
        return RevocationChecked

    def admit(self, transport: asyncio.BaseTransport) -> None:
        """Keep ``transport`` if its certificate is not revoked, else close it now."""
        serial = peer_serial(transport)
        if serial is None:
            return
        if self.revocations.is_revoked(serial):
            log.warning("refused a dashboard viewer: certificate serial %x is revoked", serial)
            transport.close()
            return
        with self._lock:
            self._open[transport] = (serial, asyncio.get_running_loop())

    def forget(self, transport: asyncio.BaseTransport | None) -> None:
        """``transport`` closed: stop watching it."""
        with self._lock:
            self._open.pop(transport, None)  # type: ignore[arg-type]

    def sweep(self) -> int:
        """Close the open connections whose certificate is revoked now; how many."""
        revoked = self.revocations.serials
        with self._lock:
            doomed = [(t, s, loop) for t, (s, loop) in self._open.items() if s in revoked]
            for transport, _, _ in doomed:
                del self._open[transport]
        for transport, serial, loop in doomed:
            log.warning("closed a dashboard viewer: certificate serial %x was revoked", serial)
            with contextlib.suppress(RuntimeError):  # the server's loop already ended
                loop.call_soon_threadsafe(transport.close)
        return len(doomed)

    def start(self) -> None:
        """Sweep every :data:`SWEEP_INTERVAL_S` on a daemon thread until :meth:`stop`."""

        def run() -> None:
            while not self._stop.wait(SWEEP_INTERVAL_S):
                self.sweep()

        self._thread = threading.Thread(target=run, name="rengo-ui-revocations", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the sweeps."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __repr__(self) -> str:
        with self._lock:
            count = len(self._open)
        return f"RevokedViewerGuard({self.revocations.path}, {count} open)"


def http_protocol(name: str = "auto") -> Any:
    """The HTTP protocol class of uvicorn for ``name`` (what its ``http`` option picks)."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    return import_from_string(HTTP_PROTOCOLS[name])
