"""Serve the dashboard with uvicorn: in the foreground (``rengo ui``) or on a background
thread beside a running coordinator (``rengo coordinator --ui``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

from rengo.core.errors import ConfigError
from rengo.ui.access import Listen, TlsFiles, check_exposure, parse_listen
from rengo.ui.app import create_app
from rengo.ui.revoked_viewers import RevokedViewerGuard, http_protocol
from rengo.ui.slow_viewers import REQUEST_HEAD_TIMEOUT_S, request_head_deadline

log = logging.getLogger("rengo.ui")
MAX_CONNECTIONS = 256
"""Most connections (and requests in progress) the dashboard serves at once; beyond, uvicorn
answers 503 at once. Each open page holds an event stream and fetches on a few more, so this
is dozens of viewers; beside ``rengo coordinator --ui`` it keeps a viewer who opens
thousands of pages from starving the coordinator's process."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


def _event_loop_running() -> bool:
    """Whether this thread is running an asyncio event loop (a Jupyter kernel's cell)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@contextlib.contextmanager
def _ctrl_c_interrupts() -> Iterator[None]:
    """Make SIGINT raise KeyboardInterrupt for the block, then restore the handler.

    ``asyncio.run`` installs a handler that only cancels its main task; a notebook kernel
    already raises KeyboardInterrupt. Only the main thread can set a handler (and SIGINT is
    delivered there only), and a handler set outside Python cannot be put back: both are
    left as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None or previous is signal.SIG_IGN:  # ignored on purpose (nohup, &): kept
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DashboardServer:
    """The dashboard for one run store, on ``listen`` (``"127.0.0.1:8080"`` by default).

    A non-loopback ``listen`` needs a ``token`` or ``tls`` (the deployment's certificates:
    HTTPS, and only browsers with a client certificate from the federation's CA get in); a
    token without ``tls`` is served over plain HTTP, which it warns about. A connection that
    starts no request within ``request_head_timeout_s`` to twice that is closed (see
    :mod:`rengo.ui.slow_viewers`). A request that would make more than ``max_connections``
    open connections (or requests in progress) is answered 503 at once (an open page then
    falls back to polling every 3 s).

    >>> with DashboardServer("rengo-runs", "127.0.0.1:0") as ui:  # doctest: +SKIP
    ...     print(ui.url)
    """

    def __init__(
        self,
        store_path: str | os.PathLike[str],
        listen: str | Listen = "127.0.0.1:8080",
        *,
        token: str | None = None,
        tls: TlsFiles | None = None,
        poll_interval_s: float = 0.25,
        request_head_timeout_s: float = REQUEST_HEAD_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if not request_head_timeout_s > 0:
            raise ConfigError(
                f"request_head_timeout_s must be > 0 seconds, got {request_head_timeout_s}"
            )
        if isinstance(max_connections, bool) or not (
            isinstance(max_connections, int) and max_connections >= 1
        ):
            raise ConfigError(f"max_connections must be an int >= 1, got {max_connections!r}")
        self.max_connections = max_connections
        self.request_head_timeout_s = request_head_timeout_s
        self.listen = parse_listen(listen) if isinstance(listen, str) else listen
        check_exposure(self.listen, token, tls)
        if token is not None and tls is None and not self.listen.loopback:
            log.warning(
                "the dashboard on %s serves plain HTTP: its token and every page (who is in "
                "the federation, what each party is paid) cross the network unencrypted; "
                "serve it with the deployment's certificates (--certs DIR: HTTPS), or on "
                "127.0.0.1 reached through an SSH tunnel",
                self.listen.address,
            )
        self.token = token
        self.tls = tls
        # Loopback without a token (check_exposure allows nothing else): refuse foreign Host
        # headers, so a web page elsewhere cannot read it through DNS rebinding.
        hosts = {*LOOPBACK_NAMES, self.listen.host} if token is None and tls is None else None
        self.app = create_app(
            store_path,
            token=token,
            allowed_hosts=hosts,
            https=tls is not None,
            poll_interval_s=poll_interval_s,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._thread_done = threading.Event()
        self._thread_done.set()  # no server thread runs yet
        self._stop_asked = False
        self.port: int | None = None
        self._guard: RevokedViewerGuard | None = None
        if tls is not None and tls.revocations is not None:
            from rengo.transport.revocation import RevocationList

            # a list that cannot be verified is an error now, as for the coordinator
            revocations = RevocationList(tls.revocations, tls.client_ca.read_bytes())
            self._guard = RevokedViewerGuard(revocations)

    def _uvicorn(self) -> Any:
        import uvicorn

        options: dict[str, Any] = {}
        if self.tls is not None:
            options = {
                "ssl_certfile": str(self.tls.certfile),
                "ssl_keyfile": str(self.tls.keyfile),
                "ssl_ca_certs": str(self.tls.client_ca),
                "ssl_cert_reqs": ssl.CERT_REQUIRED,
            }
        # a connection that asks for nothing in time is closed, before any token is read
        protocol = request_head_deadline(http_protocol(), self.request_head_timeout_s)
        if self._guard is not None:
            protocol = self._guard.protocol(protocol)
            self._guard.start()
        options["http"] = protocol
        config = uvicorn.Config(
            self.app,
            host=self.listen.host,
            port=self.listen.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            limit_concurrency=self.max_connections,
            **options,
        )
        stopping = self.app.api.state.stopping
        stopping.clear()  # a server started again serves streams again

        class Server(uvicorn.Server):
            """Ends the open event streams as soon as a signal asks it to stop."""

            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                stopping.set()
                super().handle_exit(sig, frame)

        return Server(config)

    @property
    def url(self) -> str:
        """Where a browser on this machine opens the dashboard."""
        scheme = "https" if self.tls is not None else "http"
        return self.listen.url(scheme, self.port)

    def start(self, timeout: float = 15.0) -> str:
        """Serve on a daemon thread; returns the URL once the port accepts connections.

        Raises
        ------
        ConfigError
            The server did not come up (port taken, bad certificates).
        """
        if self._thread is not None:
            return self.url
        # a server whose stop() was interrupted may still be shutting down: let it free the
        # port first
        self._thread_done.wait(timeout=10)
        self._server = self._uvicorn()
        self._thread_error = None
        self._thread_done = threading.Event()
        self._stop_asked = False
        self._thread = threading.Thread(target=self._serve_thread, name="rengo-ui", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        try:
            while not self._server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    raise ConfigError(
                        f"the dashboard could not listen on {self.listen.host}:"
                        f"{self.listen.port} (port in use, or unreadable certificates?)"
                    )
                time.sleep(0.02)
        except BaseException:  # an interrupt while it starts, too: nothing left serving
            self.stop()
            raise
        self.port = self._bound_port()
        log.info("dashboard at %s", self.url)
        return self.url

    def _serve_thread(self) -> None:
        """The background thread's body: serve, and keep what ended it for the caller."""
        try:
            self._server.run()
        except BaseException as error:  # SystemExit too (uvicorn exits on a failed startup)
            self._thread_error = error
            raise
        finally:
            self._thread_done.set()

    def _bound_port(self) -> int:
        for server in getattr(self._server, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.listen.port

    def serve_forever(self) -> None:
        """Serve until interrupted (Ctrl-C, or a notebook's "interrupt the kernel").

        In a thread that runs no asyncio event loop (``rengo ui``) it serves in this
        thread. Where one runs (a Jupyter cell: the kernel's loop) uvicorn cannot start a
        loop of its own there ("Cannot run the event loop while another loop is running"),
        so it serves on a background thread, as :meth:`start` does, prints its URL and
        waits for it here. While it waits (and while it starts), in the main thread, one
        Ctrl-C raises KeyboardInterrupt even where the loop handles SIGINT itself (under
        ``asyncio.run`` the first Ctrl-C would only cancel the task at its next ``await``,
        which a blocking wait never reaches); the loop's handler is put back afterwards.
        An interrupt at any point stops the server and frees the port.

        Raises
        ------
        KeyboardInterrupt
            Interrupted; the server is stopped first.
        ConfigError
            The server did not come up (port in use, unreadable certificates).
        RuntimeError
            Inside a running loop: the server stopped on its own, without :meth:`stop`
            (its own error, when it raised one, is raised instead, as ``rengo ui`` would).
        """
        if not _event_loop_running():
            self._server = self._uvicorn()
            self.port = self.listen.port
            self._server.run()
            return
        with _ctrl_c_interrupts():
            try:
                url = self.start()
                print(f"rengo dashboard at {url} (interrupt to stop it)", flush=True)
                # Short waits, so the interrupt is seen at once; on an event, not with
                # thread.join: a join that an interrupt breaks marks the thread as ended
                # while it still runs (Python 3.11), and stop() would then not wait for it.
                while not self._thread_done.wait(timeout=0.2):
                    pass
            finally:
                stop_asked = self._stop_asked
                error = self._thread_error
                self.stop()
        if stop_asked:
            return
        if error is not None:
            raise error
        raise RuntimeError(f"the dashboard at {self.url} stopped on its own, without stop()")

    def stop(self) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        self._stop_asked = True
        self.app.api.state.stopping.set()  # open event streams end: nothing to cancel
        if self._server is not None:
            self._server.should_exit = True
        # Forget the thread before waiting for it, and wait on the event, not with
        # thread.join: a second Ctrl-C (a double tap, Jupyter's "I, I") that breaks the wait
        # must not leave a thread that start() takes for a server still running (it then
        # returned at once, with nothing listening), nor the guard running.
        thread, self._thread = self._thread, None
        try:
            if thread is not None and self._thread_done.wait(timeout=10):
                thread.join(timeout=1)  # it has served its last: only its return is left
        finally:
            if self._guard is not None:
                self._guard.stop()

    def __enter__(self) -> DashboardServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
