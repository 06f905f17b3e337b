"""The dashboard served for real by uvicorn: loopback by default, a token or mutual TLS
beyond it."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import signal
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="the dashboard needs the ui extra: pip install 'rengo[ui]'")

from rengo.core.errors import ConfigError
from rengo.transport.certs import init_certificates, party_paths, revoke_party
from rengo.ui import DashboardServer, TlsFiles
from tests.ui.conftest import Recorded

TOKEN = "a-long-enough-token-123"


def _get(url: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_loopback_server_answers_and_refuses_foreign_hosts(recorded: Recorded) -> None:
    with DashboardServer(recorded.path, "127.0.0.1:0") as ui:
        assert ui.url.startswith("http://127.0.0.1:") and ui.port not in (None, 0)
        status, body = _get(ui.url + "api/runs")
        assert status == 200 and body["total"] == 4
        status, body = _get(ui.url + "api/health", {"Host": "attacker.example"})
        assert status == 400 and "unexpected Host" in body["detail"]


def test_non_loopback_without_token_does_not_start(recorded: Recorded) -> None:
    with pytest.raises(ConfigError, match="reachable from other machines"):
        DashboardServer(recorded.path, "0.0.0.0:0")


def test_all_interfaces_with_token(recorded: Recorded) -> None:
    with DashboardServer(recorded.path, "0.0.0.0:0", token=TOKEN) as ui:
        status, body = _get(ui.url + "api/runs")
        assert status == 401
        status, body = _get(ui.url + "api/runs", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and body["total"] == 4


def test_a_token_served_beyond_this_machine_without_tls_is_said_to_cross_in_plain_text(
    recorded: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rengo.ui"):
        DashboardServer(recorded.path, "127.0.0.1:0", token=TOKEN)  # stays on this machine
        assert not caplog.records
        DashboardServer(recorded.path, "0.0.0.0:0", token=TOKEN)
    (warning,) = caplog.records
    assert "serves plain HTTP" in warning.getMessage() and "--certs DIR" in warning.getMessage()
    assert TOKEN not in warning.getMessage()


def test_mutual_tls_admits_only_certificates_from_the_federation_ca(
    recorded: Recorded, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    init_certificates(certs, ["operator"])
    with DashboardServer(recorded.path, "127.0.0.1:0", tls=TlsFiles.from_certs_dir(certs)) as ui:
        assert ui.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        trusted.load_cert_chain(*map(str, party_paths(certs, "operator")))
        status, body = _get(ui.url + "api/runs", context=trusted)
        assert status == 200 and body["total"] == 4
        anonymous = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            _get(ui.url + "api/runs", context=anonymous)
        stranger = tmp_path / "stranger"
        init_certificates(stranger, ["operator"])
        foreign = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        foreign.load_cert_chain(*map(str, party_paths(stranger, "operator")))
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            _get(ui.url + "api/runs", context=foreign)


def test_a_revoked_certificate_is_refused_and_an_open_view_is_closed(
    recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rengo certs revoke` says a coordinator started from the folder refuses the party; the
    dashboard started from the same folder let the revoked certificate read every run."""
    monkeypatch.setattr("rengo.ui.revoked_viewers.SWEEP_INTERVAL_S", 0.1)
    certs = tmp_path / "certs"
    init_certificates(certs, ["alice", "bob"])
    revoke_party(certs, "bob")

    def context(name: str) -> ssl.SSLContext:
        trusted = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        trusted.load_cert_chain(*map(str, party_paths(certs, name)))
        return trusted

    with DashboardServer(recorded.path, "127.0.0.1:0", tls=TlsFiles.from_certs_dir(certs)) as ui:
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            _get(ui.url + "api/runs", context=context("bob"))
        assert ui.port is not None
        view = http.client.HTTPSConnection("127.0.0.1", ui.port, context=context("alice"))
        view.request("GET", "/api/health")
        response = view.getresponse()
        assert response.status == 200
        response.read()  # the connection stays open for the next request, as a page's does
        revoke_party(certs, "alice")
        time.sleep(1.0)  # a few sweeps
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            view.request("GET", "/api/runs")
            view.getresponse()
        view.close()
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            _get(ui.url + "api/runs", context=context("alice"))


def test_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no run store at"):
        DashboardServer(tmp_path / "nothing.db", "127.0.0.1:0")


def _closed_by_server(sock: socket.socket, wait_s: float) -> bool:
    """Whether the server closes ``sock`` within ``wait_s`` seconds (it sends nothing)."""
    sock.settimeout(wait_s)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True  # nothing to read, not closed


def test_connections_that_ask_for_nothing_are_closed_and_a_live_event_stream_is_not(
    recorded: Recorded,
) -> None:
    """uvicorn kept a connection that sent nothing, or one header line and no more
    (slowloris), open for good, before any token was read: anyone reaching the port could
    hold the process's sockets (beside `rengo coordinator --ui`, the coordinator's)."""
    with DashboardServer(recorded.path, "127.0.0.1:0", request_head_timeout_s=0.2) as ui:
        assert ui.port is not None
        address = ("127.0.0.1", ui.port)
        viewer = http.client.HTTPConnection(*address, timeout=10)
        viewer.request("GET", "/api/stream")
        stream = viewer.getresponse()
        assert stream.status == 200 and stream.readline() == b"retry: 2000\n"
        with (
            socket.create_connection(address) as silent,
            socket.create_connection(address) as slow,
        ):
            slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
            # 25 times the deadline: the old dashboard still held both
            assert _closed_by_server(silent, 5.0) and _closed_by_server(slow, 5.0)
        assert viewer.sock is not None and _still_open(viewer.sock)  # a request in progress
        viewer.close()
        status, body = _get(ui.url + "api/health")
        assert status == 200 and body["read_only"] is True


def test_connections_beyond_the_limit_are_answered_503_and_served_again_once_one_closes(
    recorded: Recorded,
) -> None:
    """uvicorn served any number of event streams and requests at once: a viewer opening
    thousands of pages held as many streams, each polled five times a second, in the
    dashboard's process (beside `rengo coordinator --ui`, the coordinator's)."""
    with DashboardServer(recorded.path, "127.0.0.1:0", max_connections=3) as ui:
        assert ui.port is not None
        streams = []
        for _ in range(2):  # uvicorn counts the connection asking: two streams and it make three
            viewer = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=10)
            viewer.request("GET", "/api/stream")
            response = viewer.getresponse()
            assert response.status == 200 and response.readline() == b"retry: 2000\n"
            streams.append(viewer)
        status, _ = _get_raw(ui.url + "api/health")
        assert status == 503
        streams.pop().close()
        for _ in range(100):  # the server notices the closed stream within a poll or two
            status, _ = _get_raw(ui.url + "api/health")
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200
        streams.pop().close()


def _get_raw(url: str) -> tuple[int, bytes]:
    """The status and body of a GET (uvicorn's own 503 is plain text, not JSON)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_a_connection_limit_that_is_not_a_positive_int_is_refused(
    recorded: Recorded, limit: object
) -> None:
    with pytest.raises(ConfigError, match="max_connections"):
        DashboardServer(recorded.path, "127.0.0.1:0", max_connections=limit)  # type: ignore[arg-type]


def test_stopping_with_a_page_open_ends_its_event_stream_instead_of_cancelling_it(
    recorded: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    """`rengo coordinator --ui` stops its dashboard with stop(): an open page's stream held
    uvicorn's graceful shutdown until it cancelled it, logging a CancelledError traceback."""
    ui = DashboardServer(recorded.path, "127.0.0.1:0")
    ui.start()
    assert ui.port is not None
    viewer = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=10)
    viewer.request("GET", "/api/stream")
    stream = viewer.getresponse()
    assert stream.status == 200 and stream.readline() == b"retry: 2000\n"
    with caplog.at_level(logging.ERROR):
        ui.stop()
    assert stream.read() is not None  # ended whole (a cancelled one is cut: IncompleteRead)
    viewer.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_serve_forever_serves_from_a_thread_that_runs_an_event_loop(
    recorded: Recorded,
) -> None:
    """A Jupyter cell runs inside the kernel's asyncio loop: ``serve_forever()`` there
    raised "Cannot run the event loop while another loop is running" (uvicorn starts a loop
    of its own); it now serves on a background thread and returns once stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ui = DashboardServer(recorded.path, f"127.0.0.1:{port}")
    answered: list[int] = []

    def visit() -> None:
        for _ in range(500):  # until the server answers (it is started by the cell below)
            try:
                answered.append(_get(f"http://127.0.0.1:{port}/api/runs")[0])
                break
            except OSError:
                time.sleep(0.02)
        ui.stop()

    async def cell() -> None:  # the code of a cell, run synchronously inside the loop
        ui.serve_forever()

    visitor = threading.Thread(target=visit)
    visitor.start()
    asyncio.run(cell())
    visitor.join()
    assert answered == [200]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answer_then(port: int, then: object) -> threading.Thread:
    """A thread that waits until the dashboard answers, then calls ``then()``."""

    def visit() -> None:
        for _ in range(1500):
            try:
                _get(f"http://127.0.0.1:{port}/api/runs")
                break
            except OSError:
                time.sleep(0.02)
        then()  # type: ignore[operator]

    visitor = threading.Thread(target=visit, daemon=True)
    visitor.start()
    return visitor


def _left_serving(port: int) -> tuple[list[str], bool]:
    """The ``rengo-ui`` threads still alive, and whether the port binds again."""
    threads = [t.name for t in threading.enumerate() if t.name == "rengo-ui"]
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return threads, False
    return threads, True


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_serve_forever_in_a_cell_raises_the_error_that_ended_its_server(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server thread that died after start-up was only printed by threading's hook:
    ``serve_forever()`` in a cell returned normally. It raises the error, as ``rengo ui``
    (the server in the calling thread) does."""
    import uvicorn

    crash = threading.Event()
    real_tick = uvicorn.Server.on_tick

    async def on_tick(self: uvicorn.Server, counter: int) -> bool:
        if crash.is_set():
            raise RuntimeError("server crashed")
        return await real_tick(self, counter)

    monkeypatch.setattr(uvicorn.Server, "on_tick", on_tick)
    port = _free_port()
    ui = DashboardServer(recorded.path, f"127.0.0.1:{port}")

    async def cell() -> None:
        ui.serve_forever()

    _answer_then(port, crash.set)
    try:
        with pytest.raises(RuntimeError, match="server crashed"):
            asyncio.new_event_loop().run_until_complete(cell())
    finally:
        ui.stop()
    assert _left_serving(port)[0] == []  # its socket is uvicorn's (not closed on a crash)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="SIGINT: main thread"
)
def test_one_ctrl_c_stops_serve_forever_under_asyncio_run(recorded: Recorded) -> None:
    """``asyncio.run`` handles SIGINT itself (it cancels the task at its next await, which
    a blocking wait never reaches): the first Ctrl-C left the dashboard serving. One
    Ctrl-C now raises KeyboardInterrupt, stops the thread, frees the port, and the loop's
    own handler is back afterwards."""
    port = _free_port()
    ui = DashboardServer(recorded.path, f"127.0.0.1:{port}")
    ended = threading.Event()
    still_serving: list[bool] = []

    def ctrl_c_once() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        if not ended.wait(30):  # not stopped by the Ctrl-C: end it, and the test fails
            still_serving.append(True)
            ui.stop()

    handlers: list[object] = []

    async def cell() -> None:
        try:
            ui.serve_forever()
        finally:
            handlers.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    _answer_then(port, ctrl_c_once)
    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(cell())
    finally:
        ended.set()
        ui.stop()
    assert not still_serving  # the Ctrl-C stopped it, not the fallback above
    assert _left_serving(port) == ([], True)
    assert handlers and handlers[0] is not signal.default_int_handler  # asyncio.run's, back
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="SIGINT: main thread"
)
def test_an_interrupt_while_serve_forever_starts_leaves_nothing_serving(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``start()`` ran before the ``try/finally`` that stops the server: an interrupt while
    it waited for the port ended the cell but left the ``rengo-ui`` thread serving on the
    port. Now nothing is left: no thread, and the port binds again."""
    import uvicorn

    starting = threading.Event()
    interrupted = threading.Event()
    real_startup = uvicorn.Server.startup

    async def slow_startup(self: uvicorn.Server, sockets: object = None) -> None:
        starting.set()
        while not interrupted.is_set():  # a slow start: it binds once the interrupt came
            await asyncio.sleep(0.01)
        await real_startup(self, sockets)  # type: ignore[arg-type]

    monkeypatch.setattr(uvicorn.Server, "startup", slow_startup)
    port = _free_port()
    ui = DashboardServer(recorded.path, f"127.0.0.1:{port}")

    def interrupt() -> None:
        starting.wait(30)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # let the interrupt land while start() still waits
        interrupted.set()

    async def cell() -> None:
        ui.serve_forever()

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.new_event_loop().run_until_complete(cell())
        left = _left_serving(port)
    finally:
        interrupted.set()
        ui.stop()
    assert left == ([], True)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="SIGINT: main thread"
)
def test_a_second_ctrl_c_while_it_stops_leaves_it_able_to_serve_again(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two quick Ctrl-Cs (a double tap, Jupyter's "I, I"): the second broke stop()'s
    thread.join, which left the thread recorded as running, so every later start() or
    serve_forever() returned at once with nothing listening (connection refused)."""
    import uvicorn

    stopping = threading.Event()
    release = threading.Event()
    real_shutdown = uvicorn.Server.shutdown

    async def slow_shutdown(self: uvicorn.Server, sockets: object = None) -> None:
        stopping.set()
        while not release.is_set():  # a slow stop: the second Ctrl-C lands while it waits
            await asyncio.sleep(0.01)
        await real_shutdown(self, sockets)  # type: ignore[arg-type]

    monkeypatch.setattr(uvicorn.Server, "shutdown", slow_shutdown)
    port = _free_port()
    ui = DashboardServer(recorded.path, f"127.0.0.1:{port}")

    def twice() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # the first: stop serving
        stopping.wait(30)
        time.sleep(0.2)  # stop() now waits for the server thread
        os.kill(os.getpid(), signal.SIGINT)  # the second tap
        time.sleep(0.2)
        release.set()

    async def cell() -> None:
        ui.serve_forever()

    _answer_then(port, twice)
    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.new_event_loop().run_until_complete(cell())
        release.set()
        ui.start()  # the cell run again
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as answer:
            assert answer.status == 200, answer.read()
    finally:
        release.set()
        ui.stop()
    assert _left_serving(port) == ([], True)


def test_an_ignored_sigint_stays_ignored_while_serve_forever_waits() -> None:
    """A script run with SIGINT ignored on purpose (nohup, a shell's &) had it switched back
    on while the dashboard served, so a SIGINT meant to do nothing stopped it."""
    from rengo.ui.server import _ctrl_c_interrupts

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are set from the main thread only")
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _ctrl_c_interrupts():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
