"""How long `rengo party` keeps reconnecting to a coordinator that is gone: it said
"reconnecting until the run ends" and gave up after 600 s regardless, so parties waiting
for an interrupted run's coordinator to be resumed after a longer stop had exited. The
limit is now said and set with --retry-for (0: until the run ends)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app

runner = CliRunner()

APP = """
from rengo.hfl import LogisticRegressionClient
import numpy as np

def client_fn(cid):
    return LogisticRegressionClient(np.zeros((4, 2)), np.array([0, 1, 0, 1]))
"""


def _inherited() -> list[str]:
    """This process's ``$PYTHONPATH`` entries, for a child ``python -m rengo`` to import the
    same rengo."""
    import os

    return [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nobody listens


def _toy_party(address: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`rengo party` arguments of a toy party (its app written to ``folder``) that dials
    ``address`` and gives up after 1 s."""
    (folder / "toy_party.py").write_text(APP)
    monkeypatch.syspath_prepend(str(folder))
    args = ["party", "--coordinator", address, "--name", "a", "--insecure"]
    return [*args, "--app", "toy_party:client_fn", "--retry-for", "1"]


@pytest.mark.timeout(60)
def test_a_party_gives_up_after_its_retry_for_and_says_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    result = runner.invoke(app, _toy_party(address, tmp_path, monkeypatch))
    said = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert f"a: serving {address} (reconnecting until the run ends, for up to 1s without a" in said
    assert f"no coordinator at {address} for 1s" in said


def test_the_party_help_names_the_retry_limit_and_how_to_lift_it() -> None:
    result = runner.invoke(app, ["party", "--help"], env={"COLUMNS": "200"})
    said = " ".join(result.output.replace("│", " ").split())
    assert "--retry-for" in said and "0: until the run ends" in said


@pytest.mark.timeout(60)
def test_a_party_says_in_its_first_line_that_it_dials_through_the_environments_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("grpc_proxy", "http_proxy", "no_grpc_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{_closed_port()}")
    address = f"127.0.0.1:{_closed_port()}"
    args = _toy_party(address, tmp_path, monkeypatch)
    proxied = " ".join(runner.invoke(app, args).output.split())
    assert f"a: serving {address} through the HTTP proxy http://127.0.0.1:" in proxied
    assert "(from $https_proxy); set no_proxy=HOST or pass --no-proxy" in proxied
    direct = " ".join(runner.invoke(app, [*args, "--no-proxy"]).output.split())
    assert f"a: serving {address} (reconnecting" in direct
    assert "nothing listens on that port (connection refused)" in direct


@pytest.mark.parametrize("command", [["party"], ["vfl", "party"]])
def test_both_party_commands_offer_the_proxy_and_certificate_name_controls(
    command: list[str],
) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    said = " ".join(result.output.replace("│", " ").split())
    assert "--no-proxy" in said and "never through the HTTP proxy" in said
    assert "--server-name" in said and "the coordinator's certificate must name" in said


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("extra", "env", "grpc_lines"),
    [([], {}, False), (["-vv"], {}, True), ([], {"GRPC_VERBOSITY": "ERROR"}, True)],
)
def test_grpcs_own_error_lines_stay_out_of_a_partys_output_unless_asked_for(
    extra: list[str], env: dict[str, str], grpc_lines: bool, tmp_path: Path
) -> None:
    """A party refused by its proxy printed gRPC's C-core line ("E1206 ...
    http_connect_client_handshaker.cc:114] HTTP proxy handshake ... failed", then a source
    trace) above rengo's own line saying the same in words; it now shows them only at -vv
    or when $GRPC_VERBOSITY says so. A fresh process: gRPC reads its verbosity once."""
    import os
    import subprocess
    import sys

    from tests.transport.local_proxy import PROXY_VARIABLES, LocalProxy

    proxy = LocalProxy(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    (tmp_path / "toy_party.py").write_text(APP)
    clean = {k: v for k, v in os.environ.items() if k not in {*PROXY_VARIABLES, "GRPC_VERBOSITY"}}
    args = ["party", "--coordinator", "127.0.0.1:7443", "--name", "a", "--insecure"]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rengo", *args, "--app", "toy_party:client_fn", *extra],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=tmp_path,
            env={
                **clean,
                "PYTHONPATH": os.pathsep.join([str(tmp_path), *_inherited()]),
                "https_proxy": proxy.url,
                **env,
            },
        )
    finally:
        proxy.close()
    assert done.returncode == 1, done.stderr
    assert "refused to open a tunnel to it (HTTP 403)" in done.stderr
    assert ("http_connect_client_handshaker" in done.stderr) is grpc_lines, done.stderr
