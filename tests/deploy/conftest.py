"""Shared fixtures for the deployment tests: a federation's certificates, process helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rengo.transport.certs import init_certificates

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from digits_app import PARTIES  # noqa: E402


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, [*PARTIES, "intruder"])
    return directory


class Processes:
    """Starts helper processes running ``script`` (beside this file) and kills whatever is
    left at the end of a test."""

    def __init__(self, script: str = "deploy_procs.py", env: dict[str, str] | None = None) -> None:
        self.script = script
        self.env = dict(env or {})
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / self.script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **self.env, **(env or {})},
        )
        self.started.append(proc)
        return proc

    def party(self, address: str, name: str, certs: Path, **env: str) -> subprocess.Popen[str]:
        return self.start("party", address, name, str(certs), env=env)

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.cleanup()
