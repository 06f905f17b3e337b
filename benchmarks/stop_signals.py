"""What an operator's stop does to each long-running ``rengo`` command: start it on a tiny
job, wait until it is mid-work (a round recorded in the run store), send SIGINT, SIGTERM
or SIGHUP, and print the exit code, the last lines it printed, whether it printed a
traceback, the seconds it took to exit, the processes it left behind (its process group),
the run's status as stored (not as read back through the owner's liveness check), the
rounds kept, and whether ``--resume`` then finishes the run.

    python benchmarks/stop_signals.py [--executor serial process ray]
        [--signal INT TERM TERMALL HUP]

Not a timing benchmark: the seconds to exit are what one stop took on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

JOB = """
[job]
name = "stop-{executor}"
seed = 0
rounds = 40
executor = "{executor}"
[data]
dataset = "digits"
[partition]
scheme = "iid"
num_clients = 4
[model]
type = "logistic"
[train]
local_epochs = 20
[strategy]
name = "fedavg"
"""


@dataclass(frozen=True)
class Outcome:
    """What one stop did."""

    command: str
    sent: str
    exit_code: int | None
    seconds_to_exit: float
    traceback: bool
    last_line: str
    left_behind: int
    stored_status: str
    rounds_kept: int
    resumed_status: str


def stored_status(db: Path) -> tuple[str, str, int]:
    """The newest run's id, stored status and number of recorded rounds (raw SQL)."""
    if not db.exists():
        return "", "no store", 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            row = con.execute(
                "SELECT run_id, status FROM runs ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return "", "no run", 0
            query = "SELECT COUNT(*) FROM rounds WHERE run_id = ?"
            (count,) = con.execute(query, row[:1]).fetchone()
    except sqlite3.OperationalError:  # the store's tables are not there yet
        return "", "no run", 0
    return str(row[0]), str(row[1]), int(count)


def group_members(group: int) -> list[str]:
    """The processes still in ``group`` (pid and command)."""
    out = subprocess.run(
        ["ps", "-o", "pid=,pgid=,args=", "-e"], capture_output=True, text=True, check=True
    ).stdout
    members = []
    for line in out.splitlines():
        pid, pgid, args = line.split(None, 2)
        if int(pgid) == group and "ps -o" not in args:
            members.append(f"{pid} {args[:160]}")
    return members


def rengo(*words: str) -> list[str]:
    return [sys.executable, "-m", "rengo", *words]


SETTLE_S = 10.0
"""Seconds after the command exited before its group is searched for what it left."""

STOPS = {
    "INT": (signal.SIGINT, True),  # Ctrl-C: the terminal signals the foreground group
    "TERM": (signal.SIGTERM, False),  # docker stop, kubernetes, kill PID: the main process
    "TERMALL": (signal.SIGTERM, True),  # systemd's default KillMode: every process
    "HUP": (signal.SIGHUP, True),  # the SSH session closed: the shell signals its jobs
}
"""Each stop: the signal, and whether it reaches the whole process group."""


def stop_run(folder: Path, executor: str, stop: str) -> Outcome:
    sent, to_group = STOPS[stop]
    job = folder / "job.toml"
    job.write_text(JOB.format(executor=executor))
    db = folder / "runs.db"
    proc = subprocess.Popen(
        rengo("run", str(job), "--store", str(db), "--no-progress"),
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 300
    while stored_status(db)[2] < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    group = proc.pid
    before = group_members(group)
    os.killpg(group, sent) if to_group else proc.send_signal(sent)
    started = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        out, _ = proc.communicate()
    took = time.monotonic() - started
    time.sleep(SETTLE_S)
    left = group_members(group)
    run_id, status, rounds = stored_status(db)
    resumed = "-"
    if run_id and status != "completed":
        done = subprocess.run(
            rengo("run", str(job), "--store", str(db), "--no-progress", "--resume", run_id),
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        resumed = f"rc={done.returncode} {stored_status(db)[1]}"
    lines = [line for line in out.splitlines() if line.strip()]
    print(f"  processes in its group before the stop: {len(before)}", file=sys.stderr)
    for member in left:
        print(f"  left behind: {member}", file=sys.stderr)
    for member in left:  # clean up what the run left
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(member.split()[0]), signal.SIGKILL)
    return Outcome(
        command=f"rengo run (executor={executor})",
        sent=stop,
        exit_code=proc.returncode,
        seconds_to_exit=round(took, 1),
        traceback="Traceback" in out,
        last_line=lines[-1][:100] if lines else "",
        left_behind=len(left),
        stored_status=status,
        rounds_kept=rounds,
        resumed_status=resumed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", nargs="+", default=["serial", "process"])
    parser.add_argument("--signal", nargs="+", default=list(STOPS), choices=list(STOPS))
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    for executor in args.executor:
        for name in args.signal:
            with tempfile.TemporaryDirectory() as tmp:
                outcome = stop_run(Path(tmp), executor, name)
            print(outcome, flush=True)


if __name__ == "__main__":
    main()
