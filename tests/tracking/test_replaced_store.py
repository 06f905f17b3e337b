"""A run store held open for hours (a notebook's ``RunStore``, ``rengo ui``, a long run)
whose file is replaced underneath it (a backup restored over it, ``mv``) or deleted. Before,
SQLite went on through its open descriptor: a writer's rounds went into a file no path
named (lost without a word), and a reader showed the old file's runs after a restore."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from rengo.tracking import RunStore, StoreReplacedError
from tests.cli.test_runs_delete_live import ENDLESS_JOB
from tests.cli.test_stop_signals import output_at_end, start_run_command


def _run_names(path: Path) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return sorted(row[0] for row in con.execute("SELECT name FROM runs"))


def _remove_store(path: Path) -> None:
    for end in ("", "-wal", "-shm"):
        Path(f"{path}{end}").unlink(missing_ok=True)


def test_a_writer_whose_store_was_restored_from_a_backup_stops_with_a_clear_error(
    tmp_path: Path,
) -> None:
    path, backup = tmp_path / "runs.db", tmp_path / "backup.db"
    with RunStore(path) as store:
        store.start_run("hfl", {}, name="before-backup")
    shutil.copy(path, backup)
    notebook = RunStore(path)
    run_id = notebook.start_run("hfl", {}, name="after-backup")
    notebook.log_round(run_id, 1, {"accuracy": 0.5}, 1.0, 2, 0)
    os.replace(backup, path)  # the backup restored: mv backup.db runs.db
    with pytest.raises(StoreReplacedError) as caught:
        notebook.log_round(run_id, 2, {"accuracy": 0.6}, 1.0, 2, 0)
    assert str(path) in str(caught.value) and "replaced" in str(caught.value)
    with pytest.raises(StoreReplacedError):  # reads too: it shows the file at the path
        notebook.list_runs()
    notebook.close()
    with RunStore(path) as again:  # opened again, the file at the path is used
        # round 2 went nowhere; (the WAL file left beside the restored one still holds what
        # the notebook committed before the restore: SQLite pairs a WAL with its database
        # by name, which is why a restore must leave no -wal file behind: README)
        assert [r.round for r in again.rounds(run_id)] == [1]
        again.start_run("hfl", {}, name="after-restore")
    assert "after-restore" in _run_names(path)


def test_a_writer_whose_store_was_deleted_writes_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    notebook = RunStore(path)
    run_id = notebook.start_run("hfl", {}, name="deleted")
    _remove_store(path)
    with pytest.raises(StoreReplacedError) as caught:
        notebook.log_event(run_id, "info", "into the void")
    assert "deleted or moved away" in str(caught.value)
    notebook.close()
    assert not path.exists()


def test_a_read_only_viewer_follows_a_restored_store(tmp_path: Path) -> None:
    path, backup = tmp_path / "runs.db", tmp_path / "backup.db"
    with RunStore(path) as store:
        store.start_run("hfl", {}, name="in-backup")
    shutil.copy(path, backup)
    with RunStore(path) as store:
        store.start_run("hfl", {}, name="lost-by-restore")
    with RunStore(path, read_only=True) as viewer:
        assert sorted(r.name for r in viewer.list_runs()) == ["in-backup", "lost-by-restore"]
        os.replace(backup, path)
        assert [r.name for r in viewer.list_runs()] == ["in-backup"]
        _remove_store(path)
        with pytest.raises(StoreReplacedError):
            viewer.list_runs()


@pytest.mark.timeout(300)
def test_rengo_run_whose_store_is_deleted_mid_run_stops_with_one_line(tmp_path: Path) -> None:
    proc, db = start_run_command(tmp_path, ENDLESS_JOB)
    _remove_store(db)
    out = output_at_end(proc)
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    assert f"run store {db} was deleted or moved away" in " ".join(out.split()), out
    assert not db.exists()  # nothing made a new store there
