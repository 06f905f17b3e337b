"""Reading the ``rengo vfl`` processes a deployment test started: the coordinator's port
from its 'listening on HOST:PORT' line, and a process's whole output once it ended (well,
or with an error where the test expects one)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


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


def run_processes(
    cli: Any,
    certs: Path,
    coordinator_args: list[str],
    party_flags: dict[str, list[str]],
    refused: bool = False,
) -> tuple[str, dict[str, str]]:
    """Start ``rengo vfl coordinator`` (``coordinator_args`` besides listen, certs and join
    settings) and one ``rengo vfl party`` per entry of ``party_flags`` through ``cli`` (a
    ``child_processes.Processes``); every process's output once each ended (``refused``:
    each with an error)."""
    ended = finish_refused if refused else finish
    coordinator = cli.start(
        "coordinator", "--listen", "127.0.0.1:0", "--certs", str(certs),
        "--join-timeout", "60", "--no-progress", *coordinator_args,
    )  # fmt: skip
    port, early = wait_for_port(coordinator)
    address = f"127.0.0.1:{port}"
    parties = {}
    for name, flags in party_flags.items():
        parties[name] = cli.start(
            "party", "--coordinator", address, "--name", name,
            "--certs", str(certs), "--no-progress", *flags,
        )  # fmt: skip
    said = {name: ended(proc) for name, proc in parties.items()}
    return ended(coordinator, early), said
