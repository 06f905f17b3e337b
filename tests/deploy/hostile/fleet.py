"""Real coordinator and party processes for the hostile-party suite, their output collected
as they run, and a process's memory read from /proc."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no {field} for process {pid}")


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="memory is read from /proc (Linux)"
)


class Proc:
    """A process whose output lines are collected as they come (so its pipe never fills)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def expect(self, pattern: str, timeout: float = 120.0) -> re.Match[str]:
        """Wait for an output line matching ``pattern``; its match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    found = regex.search(line)
                    if found:
                        return found
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (
                    self.popen.poll() is not None and not self._reader.is_alive()
                ):
                    raise AssertionError(f"no line matching {pattern!r}:\n{self.output[-3000:]}")
                self._changed.wait(min(remaining, 0.5))

    def wait(self, timeout: float = 120.0) -> int:
        code = self.popen.wait(timeout)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)
        self._reader.join(10)


class Fleet:
    """Starts the suite's processes (``hostile_procs.py``, or ``rengo`` itself) and kills
    what is left at the end of a test."""

    def __init__(self, certs: Path, tmp_path: Path) -> None:
        self.certs = certs
        self.tmp_path = tmp_path
        self.started: list[Proc] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> Proc:
        proc = Proc([sys.executable, str(HERE / "hostile_procs.py"), *args], env)
        self.started.append(proc)
        return proc

    def rengo(self, *args: str) -> Proc:
        proc = Proc([sys.executable, "-m", "rengo.cli.main", *args], {"COLUMNS": "500"})
        self.started.append(proc)
        return proc

    def coordinator(self, rounds: int, parties: list[str], *options: str) -> tuple[Proc, str, str]:
        """A coordinator process; ``(process, address, run id)`` once it listens."""
        store = self.tmp_path / "runs.db"
        proc = self.start(
            "coordinator", str(self.certs), str(store), str(rounds), ",".join(parties), *options
        )
        port = proc.expect(r"^PORT (\d+)").group(1)
        run_id = proc.expect(r"^RUN (\S+)").group(1)
        return proc, f"127.0.0.1:{port}", run_id

    def party(self, address: str, name: str, *options: str) -> Proc:
        return self.start("party", address, name, str(self.certs), *options)

    def cleanup(self) -> None:
        for proc in self.started:
            proc.kill()
            if proc.popen.stdout is not None:
                proc.popen.stdout.close()


def free_port() -> int:
    """A TCP port nobody listens on now (for a coordinator started in a test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
