"""``rengo runs backup``: a consistent copy of a run store that a run is writing, in one file,
that opens, lists and resumes where it was copied."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})

# a run writing rounds, each with its checkpoint in the same transaction order a run uses
# (round, then checkpoint), until the file STOP appears
WRITER = """
import sys
from pathlib import Path
from rengo.tracking import RunStore
store_path, stop = Path(sys.argv[1]), Path(sys.argv[2])
with RunStore(store_path) as store:
    run_id = store.start_run("hfl", {"rounds": 100000}, name="writing")
    Path(sys.argv[3]).write_text(run_id)
    r = 0
    while not stop.exists():
        r += 1
        store.log_round(run_id, r, {"loss": 1.0 / r}, 0.0, 2, 0)
        store.save_checkpoint(run_id, r, b"x" * 4096)
"""


def _rounds_logged(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0])
    except sqlite3.OperationalError:  # the writer has not made its tables yet
        return 0
    finally:
        conn.close()


def _wait_for(condition: object, what: str) -> None:
    """Poll ``condition`` (a callable) until true; fail naming ``what`` after a minute."""
    deadline = time.monotonic() + 60
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"waited a minute for {what}"
        time.sleep(0.05)


def test_backups_taken_while_a_run_writes_each_hold_every_round_to_their_checkpoint(
    tmp_path: Path,
) -> None:
    """cp/tar of a store being written copy its file and its write-ahead log at different
    moments; `rengo runs backup` did not exist. Each backup taken mid-run is one file that
    passes SQLite's integrity check, holds rounds 1..k with no gap, its latest checkpoint
    at k or k-1 (a round and its checkpoint are two transactions: a backup can fall between
    them), and its run's rounds grow from backup to backup."""
    store, stop, id_file = tmp_path / "runs.db", tmp_path / "STOP", tmp_path / "run_id"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store), str(stop), str(id_file)], env=os.environ
    )
    held: list[int] = []
    try:
        for i in range(4):
            _wait_for(
                lambda: store.exists() and _rounds_logged(store) > (held[-1] if held else 0),
                "the writer's next round",
            )
            copy = tmp_path / f"backup{i}.db"
            taken = runner.invoke(app, ["runs", "backup", str(copy), "--store", str(store)])
            assert taken.exit_code == 0, taken.output
            assert "to restore: stop every process using" in " ".join(taken.output.split())
            assert not Path(f"{copy}-wal").exists()  # one file, nothing to copy beside it
            assert oct(copy.stat().st_mode & 0o777) == "0o600"
            conn = sqlite3.connect(copy)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.close()
            run_id = id_file.read_text()
            with RunStore(copy, read_only=True) as backed_up:
                rounds = [r.round for r in backed_up.rounds(run_id, metrics=False)]
                assert rounds == list(range(1, len(rounds) + 1)), rounds
                latest = backed_up.latest_checkpoint(run_id)
                assert latest is not None and latest[0] in (rounds[-1], rounds[-1] - 1)
                held.append(len(rounds))
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert held == sorted(held) and held[0] < held[-1], held


def test_a_backup_never_replaces_a_file_and_names_it(tmp_path: Path) -> None:
    """A backup to a path that holds a file (an earlier backup) keeps that file unchanged."""
    store = tmp_path / "runs.db"
    with RunStore(store) as s:
        s.start_run("hfl", {}, name="kept")
    earlier = tmp_path / "monday.db"
    earlier.write_bytes(b"an earlier backup")
    refused = runner.invoke(app, ["runs", "backup", str(earlier), "--store", str(store)])
    assert refused.exit_code == 2
    assert "already exists" in refused.output and str(earlier) in "".join(refused.output.split())
    assert earlier.read_bytes() == b"an earlier backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_backup_into_an_unwritable_folder_is_refused_naming_the_destination(
    tmp_path: Path,
) -> None:
    """A folder this user cannot write gave a raw PermissionError traceback (exit 1), where
    the docstring promises StoreUnwritableError: a clear line naming the destination."""
    folder = Path("/sys/kernel")
    try:
        (folder / ".rengo-probe").touch()
    except OSError:
        pass
    else:  # pragma: no cover - a system where /sys/kernel is writable
        (folder / ".rengo-probe").unlink()
        pytest.skip(f"{folder} is writable here")
    store = tmp_path / "runs.db"
    with RunStore(store) as s:
        s.start_run("hfl", {}, name="kept")
    target = folder / "x.db"
    refused = runner.invoke(app, ["runs", "backup", str(target), "--store", str(store)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1, said  # a rengo error, said in one line: no traceback
    assert isinstance(refused.exception, SystemExit), refused.exception
    assert f"the backup {target} cannot be written" in said


def test_a_file_that_appears_as_the_backup_is_moved_into_place_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The destination was checked, then the copy renamed over it (os.replace): a file made
    at that path in between (another backup of the same name) was replaced. Here the file
    appears at the last instant, as the copy is linked or renamed into place."""
    store = tmp_path / "runs.db"
    with RunStore(store) as s:
        s.start_run("hfl", {}, name="kept")
    target = tmp_path / "monday.db"
    link, replace = os.link, os.replace

    def appear_first(real: Any) -> Any:
        def call(source: Any, destination: Any, *args: Any, **kwargs: Any) -> Any:
            if Path(destination) == target:
                target.write_bytes(b"another backup")
            return real(source, destination, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "link", appear_first(link))
    monkeypatch.setattr(os, "replace", appear_first(replace))
    refused = runner.invoke(app, ["runs", "backup", str(target), "--store", str(store)])
    monkeypatch.undo()
    assert refused.exit_code == 2, refused.output
    assert target.read_bytes() == b"another backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


RESUMABLE = """
[job]
name = "backed-up"
rounds = {rounds}
seed = 3
[data]
dataset = "wine"
[partition]
scheme = "dirichlet"
num_clients = 4
alpha = 0.5
[model]
type = "logistic"
[train]
lr = 0.2
[strategy]
name = "fedavg"
"""


def test_a_backup_taken_while_a_job_runs_resumes_to_the_uninterrupted_runs_result(
    tmp_path: Path,
) -> None:
    """The docs say a run backed up mid-run reads interrupted once restored and `rengo run
    JOB --resume RUN` continues it from the backup's last checkpoint; no test resumed one.
    The job is stopped (SIGTERM) after the backup; the backup, restored into another
    folder, resumes to every round and to the metrics an uninterrupted run ends with."""
    rounds = 200
    job = tmp_path / "job.toml"
    job.write_text(RESUMABLE.format(rounds=rounds))
    live, copy = tmp_path / "live" / "runs.db", tmp_path / "restored" / "runs.db"
    live.parent.mkdir()
    copy.parent.mkdir()
    running = subprocess.Popen(
        [sys.executable, "-m", "rengo", "run", str(job), "--store", str(live)],
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: live.exists() and _rounds_logged(live) >= 3, "the job's third round")
        taken = runner.invoke(app, ["runs", "backup", str(copy), "--store", str(live)])
        assert taken.exit_code == 0, taken.output
    finally:
        running.terminate()
        running.wait(timeout=60)
    with RunStore(copy, read_only=True) as restored:
        (run,) = restored.list_runs()
        held = len(restored.rounds(run.run_id, metrics=False))
        assert run.status == "interrupted" and held < rounds, (run.status, held)
    resumed = runner.invoke(
        app, ["run", str(job), "--store", str(copy), "--resume", run.run_id, "--no-progress"]
    )
    assert resumed.exit_code == 0, resumed.output
    whole = tmp_path / "whole.db"
    straight = runner.invoke(app, ["run", str(job), "--store", str(whole), "--no-progress"])
    assert straight.exit_code == 0, straight.output
    with RunStore(copy, read_only=True) as a, RunStore(whole, read_only=True) as b:
        done = a.get_run(run.run_id)
        (reference,) = b.list_runs()
        assert done.status == "completed"
        assert [r.round for r in a.rounds(run.run_id, metrics=False)] == list(range(1, rounds + 1))
        last = a.rounds(run.run_id)[-1].metrics
        assert last and last == b.rounds(reference.run_id)[-1].metrics, last
