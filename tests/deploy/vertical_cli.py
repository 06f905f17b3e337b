"""Reading the ``rengo vfl`` processes a deployment test started: the coordinator's port
from its 'listening on HOST:PORT' line, and a process's whole output once it ended (well,
or with an error where the test expects one)."""

from __future__ import annotations

import subprocess


def wait_for_port(proc: subprocess.Popen[str]) -> tuple[int, list[str]]:
    """Read the coordinator's output up to its 'listening on HOST:PORT' line."""
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("listening on "):
            return int(line.split()[2].rstrip(";").rsplit(":", 1)[1]), lines
    raise AssertionError("coordinator exited before listening:\n" + "".join(lines))


def finish(
    proc: subprocess.Popen[str], earlier: list[str] | None = None, timeout: float = 120
) -> str:
    """The process's whole output (``earlier``: lines already read), once it exited 0."""
    out, _ = proc.communicate(timeout=timeout)
    text = "".join(earlier or []) + out
    assert proc.returncode == 0, text
    return text


def finish_refused(
    proc: subprocess.Popen[str], earlier: list[str] | None = None, timeout: float = 120
) -> str:
    """The process's whole output (``earlier``: lines already read), once it exited with an
    error."""
    out, _ = proc.communicate(timeout=timeout)
    text = "".join(earlier or []) + out
    assert proc.returncode != 0, text
    return text
