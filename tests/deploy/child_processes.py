"""Child processes of the deployment tests: started from a script beside this file, killed
at the end of a test. A module of its own (not conftest) so that a test imports it by a
name no other test folder's conftest shares."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


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
