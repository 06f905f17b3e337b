"""How `rengo run` ends when an operator stops it: Ctrl-C, SIGTERM (kill, docker stop,
systemd) and SIGHUP (the terminal or SSH session closed) each end it with one line, the exit
code a shell gives that signal's death (128 + its number) and the run recorded interrupted.
Before, a SIGHUP killed the command outright: no line, the run left `running` in the store."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from child_env import child_env

from rengo.tracking import RunStore

JOB = """
[job]
name = "stopped"
seed = 0
rounds = 500
[data]
dataset = "iris"
[partition]
scheme = "iid"
num_clients = 2
[model]
type = "logistic"
[strategy]
name = "fedavg"
"""


def recorded_rounds(db: Path) -> int:
    """Rounds the store holds so far (0 before the run's first)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return int(con.execute("SELECT COUNT(*) FROM rounds").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def start_run_command(tmp_path: Path, job_text: str = JOB) -> tuple[subprocess.Popen[str], Path]:
    """Start `rengo run` on ``job_text`` in its own session and wait until it has recorded a
    round; the process and its store."""
    job = tmp_path / "job.toml"
    job.write_text(job_text)
    db = tmp_path / "runs.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rengo", "run", str(job), "--store", str(db), "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=child_env(),
    )
    try:
        deadline = time.monotonic() + 120
        while recorded_rounds(db) < 1:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no round recorded in 120 s"
            time.sleep(0.1)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc, db


def output_at_end(proc: subprocess.Popen[str], timeout_s: float = 240) -> str:
    """What ``proc`` printed until it ended (killed if it has not ended in ``timeout_s``)."""
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out


def stop_mid_run(
    tmp_path: Path, sent: signal.Signals, job_text: str = JOB
) -> tuple[int, str, Path]:
    """Start `rengo run` on ``job_text``, send ``sent`` once a round is recorded; its exit
    code, its output and the store."""
    proc, db = start_run_command(tmp_path, job_text)
    try:
        proc.send_signal(sent)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, db


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("sent", "code", "said"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated (SIGTERM)"),
        (signal.SIGHUP, 129, "hung up (SIGHUP)"),
    ],
)
def test_a_stopped_run_exits_with_the_signals_code_and_is_recorded_interrupted(
    tmp_path: Path, sent: signal.Signals, code: int, said: str
) -> None:
    returncode, out, db = stop_mid_run(tmp_path, sent)
    assert returncode == code, out
    assert said in out and "--resume" in out, out
    assert "Traceback" not in out, out
    with RunStore(db) as store:
        (run,) = store.list_runs()
        (event,) = store.events(run.run_id, level="warning")
    assert run.status == "interrupted"
    assert not run.owner_gone  # recorded so by the command, not inferred from its absence
    assert event.message.startswith("run interrupted: ")


RAY_JOB = JOB.replace("rounds = 500", 'rounds = 500\nexecutor = "ray"')


@pytest.mark.timeout(300)
def test_a_run_on_ray_stopped_with_sigterm_is_recorded_interrupted_not_failed(
    tmp_path: Path, private_ray_record: Path
) -> None:
    """ray.init replaced the command's SIGTERM handler with one that exits 15: the run was
    recorded failed (not resumable) and the command exited 15 after Ray's log lines. The
    command inherits the test's private RAY_TMPDIR and no RAY_ADDRESS, so it starts its own
    Ray rather than joining a cluster recorded on the machine."""
    pytest.importorskip("ray")
    returncode, out, db = stop_mid_run(tmp_path, signal.SIGTERM, job_text=RAY_JOB)
    assert returncode == 143, out
    with RunStore(db) as store:
        (run,) = store.list_runs()
    assert run.status == "interrupted"
