"""`rengo coordinator --ui` serves the dashboard beside a real deployment (who is online,
from the hub), and `rengo ui` refuses what it must."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app

pytest.importorskip("uvicorn", reason="the dashboard needs the ui extra: pip install 'rengo[ui]'")

JOB = """
[job]
name = "watched"
seed = 1
rounds = 3
[data]
dataset = "iris"
[partition]
scheme = "iid"
num_clients = 2
[model]
type = "logistic"
[train]
lr = 0.2
batch_size = 8
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rengo(*args: str) -> list[str]:
    return [sys.executable, "-m", "rengo.cli.main", *args]


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError):
        return None


def _until(fetch: Any, check: Any, what: str, proc: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + 150  # a loaded machine took over 60 s to start it
    while True:
        value = fetch()
        if value is not None and check(value):
            return value
        assert proc.poll() is None, f"coordinator exited early: {proc.stdout.read()}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.timeout(400)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_coordinator_serves_the_dashboard_with_parties_online(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    address, ui = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    coordinator = subprocess.Popen(
        _rengo(
            "coordinator",
            "--job",
            str(job),
            "--listen",
            address,
            "--insecure",
            "--parties",
            "client-0,client-1",
            "--store",
            str(tmp_path / "runs.db"),
            "--join-timeout",
            "90",
            "--ui",
            ui,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    parties: list[subprocess.Popen[str]] = []
    base = f"http://{ui}/api"
    try:
        runs = _until(lambda: _get(f"{base}/runs"), lambda b: b["runs"], "the run", coordinator)
        run = runs["runs"][0]
        assert run["kind"] == "hfl-deployed" and run["status"] == "running"
        party = _rengo("party", "--coordinator", address, "--job", str(job), "--insecure", "--name")
        parties.append(
            subprocess.Popen(
                [*party, "client-0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        # The coordinator waits for client-1, so client-0 stays online until it comes.
        presence = _until(
            lambda: _get(f"{base}/runs/{run['run_id']}/presence"),
            lambda b: b["online"] == 1,
            "client-0 online",
            coordinator,
        )
        assert [(p["party"], p["state"]) for p in presence["parties"]] == [("client-0", "online")]
        assert presence["parties"][0]["peer"].startswith("ipv")
        page = urllib.request.urlopen(f"http://{ui}/", timeout=5).read().decode()
        assert "rengo dashboard" in page
        request = urllib.request.Request(f"{base}/runs", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 405
        parties.append(
            subprocess.Popen(
                [*party, "client-1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        output, _ = coordinator.communicate(timeout=120)
        assert coordinator.returncode == 0, output
        assert f"dashboard at http://{ui}/ (this machine only)" in output
        assert "completed 3 rounds" in output
    finally:
        for proc in [coordinator, *parties]:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def test_coordinator_refuses_an_exposed_dashboard_without_token(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    result = CliRunner().invoke(
        app,
        [
            "coordinator",
            "--job",
            str(job),
            "--insecure",
            "--listen",
            "127.0.0.1:0",
            "--store",
            str(tmp_path / "runs.db"),
            "--ui",
            "0.0.0.0:0",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "reachable from other machines" in result.output


def test_ui_command_needs_an_existing_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ui", "--store", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no run store at" in result.output
    result = CliRunner().invoke(
        app, ["ui", "--store", str(tmp_path / "none.db"), "--listen", "0.0.0.0:8080"]
    )
    assert result.exit_code == 2 and "reachable from other machines" in result.output


def test_ui_on_a_port_in_use_says_so_in_one_line_and_announces_no_dashboard(
    tmp_path: Path,
) -> None:
    from rengo.tracking import RunStore

    store = tmp_path / "runs.db"
    RunStore(store).close()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(
            app, ["ui", "--store", str(store), "--listen", f"127.0.0.1:{port}"]
        )
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "dashboard at" not in result.output


def test_ui_max_connections_reaches_the_server_and_its_help_names_the_default(
    tmp_path: Path,
) -> None:
    pytest.importorskip("uvicorn", reason="the dashboard needs the ui extra")
    from rich.console import Console

    from rengo.cli.ui import start_dashboard
    from rengo.tracking import RunStore
    from rengo.ui.server import MAX_CONNECTIONS

    store = tmp_path / "runs.db"
    RunStore(store).close()
    server = start_dashboard(
        store, "127.0.0.1:0", None, None, foreground=False, out=Console(), max_connections=5
    )
    try:
        assert server.max_connections == 5
    finally:
        server.stop()
    result = CliRunner().invoke(app, ["ui", "--store", str(store), "--max-connections", "0"])
    assert result.exit_code == 2 and "max-connections" in result.output
    help_text = CliRunner().invoke(app, ["ui", "--help"], env={"COLUMNS": "200"}).output
    assert f"(default {MAX_CONNECTIONS})" in help_text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sent", ["SIGINT", "SIGTERM"])
def test_ui_stopped_with_pages_open_ends_in_one_line_without_a_traceback(
    tmp_path: Path, sent: str
) -> None:
    """An open page's event stream held uvicorn's graceful shutdown until it gave up and
    cancelled it, printing a ~110-line CancelledError traceback before `interrupted`."""
    import http.client
    import signal

    from rengo.tracking import RunStore

    store = tmp_path / "runs.db"
    RunStore(store).close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ui = subprocess.Popen(
        [sys.executable, "-m", "rengo", "ui", "--store", str(store), "--listen",
         f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        pages = []
        while not pages:
            assert time.monotonic() < deadline and ui.poll() is None, "the dashboard never served"
            try:
                page = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                page.request("GET", "/api/stream")
                response = page.getresponse()
            except OSError:
                time.sleep(0.1)
                continue
            assert response.status == 200 and response.readline() == b"retry: 2000\n"
            pages.append((page, response))
        ui.send_signal(getattr(signal, sent))
        out, _ = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
    assert ui.returncode == {"SIGINT": 130, "SIGTERM": 143}[sent], out
    assert "Traceback" not in out and "CancelledError" not in out, out
    assert out.strip().splitlines()[-1] in ("interrupted", "terminated (SIGTERM)"), out
