"""`rengo sweep --workers N` runs N cells at once, each in its own process: each cell's run
is the run it would be alone (same metrics, same name, same study), a cell that fails is
named while the others complete, and a stopped sweep leaves every running cell recorded as
interrupted (and the next sweep resumes them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from child_env import child_env
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "250"})

JOB = """
[job]
name = "tiny"
rounds = {rounds}
seed = 0
[data]
dataset = "csv"
path = "{data}"
label = "y"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[train]
lr = 0.2
[strategy]
name = "fedavg"
"""


def _table(path: Path, rows: int = 120, bad_row: int | None = None) -> Path:
    lines = ["a,b,y"]
    for i in range(rows):
        a, b = (i * 37 % 11) / 11, (i * 53 % 7) / 7
        cell = "oops" if i == bad_row else f"{a:.4f}"
        lines.append(f"{cell},{b:.4f},{int(a + b > 0.9)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _job(tmp_path: Path, rounds: int = 3) -> Path:
    data = _table(tmp_path / "good.csv")
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(rounds=rounds, data=data.as_posix()))
    return job


def _sweep(job: Path, store: Path, *extra: str) -> Any:
    grid = ("--set", "strategy.name=fedavg,fedprox", "--set", "job.seed=0..1")
    return runner.invoke(
        app, ["sweep", str(job), "--store", str(store), "--no-progress", *grid, *extra]
    )


def _cells(store_path: Path) -> dict[str, tuple[str, list[dict[str, float]]]]:
    with RunStore(store_path) as store:
        return {
            run.name or "": (run.status, [r.metrics for r in store.rounds(run.run_id)])
            for run in store.list_runs(limit=None)
        }


def test_cells_run_two_at_a_time_are_the_runs_of_cells_run_one_by_one(tmp_path: Path) -> None:
    job = _job(tmp_path)
    together = _sweep(job, tmp_path / "together.db", "--workers", "2")
    assert together.exit_code == 0, together.output
    assert together.output.count(": started") == 4, together.output
    assert together.output.count(": completed, run ") == 4, together.output
    assert together.output.count("  run ") >= 4, together.output  # each run's own summary line
    alone = _sweep(job, tmp_path / "alone.db")
    assert alone.exit_code == 0, alone.output
    two, one = _cells(tmp_path / "together.db"), _cells(tmp_path / "alone.db")
    assert len(two) == 4 and sorted(two) == sorted(one)
    for name, (status, rounds) in two.items():
        assert status == "completed" and len(rounds) == 3
        assert rounds == one[name][1], name  # the same numbers, round by round

    again = _sweep(job, tmp_path / "together.db", "--workers", "2")
    assert again.exit_code == 0 and again.output.count("completed before, run") == 4


def test_a_failing_cell_is_named_and_the_others_complete(tmp_path: Path) -> None:
    job = _job(tmp_path)
    _table(tmp_path / "bad.csv", bad_row=57)
    result = runner.invoke(
        app,
        [
            "sweep",
            str(job),
            "--store",
            str(tmp_path / "runs.db"),
            "--workers",
            "2",
            "--set",
            f"data.path={(tmp_path / 'good.csv').as_posix()},{(tmp_path / 'bad.csv').as_posix()}",
        ],
    )
    assert result.exit_code != 0
    assert "1 of 2 cells did not complete" in result.output, result.output
    assert "bad.csv" in result.output and "oops" in result.output, result.output
    cells = _cells(tmp_path / "runs.db")
    assert [status for status, _ in cells.values()] == ["completed"]  # the bad one made none


def test_workers_must_be_positive_and_not_beside_ray(tmp_path: Path) -> None:
    job = _job(tmp_path)
    zero = _sweep(job, tmp_path / "runs.db", "--workers", "0")
    assert zero.exit_code == 2 and "--workers" in zero.output
    ray = _sweep(job, tmp_path / "runs.db", "--workers", "2", "--executor", "ray")
    assert ray.exit_code == 2, ray.output
    assert "runs on Ray" in ray.output and "leave --workers out" in ray.output
    assert not (tmp_path / "runs.db").exists()


def _start_sweep(job: Path, store_path: Path, seeds: str, **popen: Any) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "rengo", "sweep", str(job), "--store", str(store_path)]
    command += ["--no-progress", "--workers", "2", "--set", f"job.seed={seeds}"]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), **popen
    )


def _wait_for_training(store_path: Path, runs: int) -> None:
    """Until ``runs`` runs of the store have a round recorded and are running."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(1)
        if store_path.exists():
            with RunStore(store_path) as store:
                live = [
                    run
                    for run in store.list_runs(limit=None)
                    if run.status == "running" and store.rounds(run.run_id, metrics=False)
                ]
            if len(live) >= runs:
                return
    raise AssertionError(f"{runs} cells never trained at once")


def _gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 60
    while [pid for pid in pids if Path(f"/proc/{pid}").exists()]:
        assert time.monotonic() < deadline, "a cell's process outlived the sweep"
        time.sleep(0.5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_stopped_sweep_leaves_each_running_cell_interrupted_for_the_next_to_resume(
    tmp_path: Path,
) -> None:
    """Started with SIGINT ignored (``cmd &`` in a batch script), one cell's process killed,
    then the sweep stopped by SIGTERM: the killed cell is named with its signal, the next
    cell took its place, and every started cell's run reads interrupted."""
    job = _job(tmp_path, rounds=100_000)
    store_path = tmp_path / "runs.db"
    sweep = _start_sweep(
        job, store_path, "0..3", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
    )
    try:
        _wait_for_training(store_path, 2)
        first = _children(sweep.pid)
        assert len(first) == 2, first  # a process per running cell
        os.kill(first[0], signal.SIGKILL)
        _wait_for_training(store_path, 2)  # the third cell took its place
        children = _children(sweep.pid)
        assert len(children) == 2 and first[0] not in children
        sweep.send_signal(signal.SIGTERM)
        output, _ = sweep.communicate(timeout=240)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode != 0, output
    assert "killed by signal 9" in output, output
    with RunStore(store_path) as store:
        runs = store.list_runs(limit=None)
    assert len(runs) == 3, output  # the fourth cell never started
    assert {run.status for run in runs} == {"interrupted"}, output
    assert sum(run.owner_gone for run in runs) == 1  # the killed one; the others recorded it
    assert "--workers 2" in output  # the line that continues the study
    again = ["sweep", str(job), "--store", str(store_path), "--set", "job.seed=0..3"]
    plan = subprocess.run(
        [sys.executable, "-m", "rengo", *again, "--workers", "2", "--dry-run"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert plan.stdout.count(": interrupted ") == 3 and plan.stdout.count(": to run") == 1
    _gone(children)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_cells_of_a_sweep_killed_outright_stop_and_record_their_runs_interrupted(
    tmp_path: Path,
) -> None:
    """SIGKILL (or the OOM killer) gives the sweep no chance to stop its cells: each notices
    its parent gone and stops as on Ctrl-C, instead of training on unseen."""
    job = _job(tmp_path, rounds=100_000)
    store_path = tmp_path / "runs.db"
    sweep = _start_sweep(job, store_path, "0..1")
    try:
        _wait_for_training(store_path, 2)
        children = _children(sweep.pid)
        assert len(children) == 2, children
        sweep.kill()
        sweep.communicate(timeout=60)
        _gone(children)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    with RunStore(store_path) as store:
        runs = store.list_runs(limit=None)
    assert len(runs) == 2 and {run.status for run in runs} == {"interrupted"}
    assert not any(run.owner_gone for run in runs)  # each recorded its own stop


def _children(pid: int) -> list[int]:
    """The cells' processes of sweep ``pid``: its children started by multiprocessing's
    spawn (not its resource tracker), from Linux's /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def _env() -> dict[str, str]:
    return child_env(COLUMNS="250")


def test_a_process_orphaned_before_it_watches_its_parent_stops_at_once() -> None:
    """A sweep's cell watches its parent only after its imports (seconds); orphaned before,
    it stops as on Ctrl-C at once instead of training on unseen."""
    script = (
        "import time\n"
        "from rengo.transport.parent_watch import end_with_parent\n"
        "try:\n"
        "    end_with_parent(poll_s=0.1, grace_s=30, parent=1)  # not this one's parent\n"
        "    time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        "    print('STOPPED')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert "STOPPED" in out.stdout, out.stdout + out.stderr
