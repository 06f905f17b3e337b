"""A run store SQLite cannot write (its disk full, the file read-only) is named with the fix in
a :class:`StoreUnwritableError`, not SQLite's bare ``OperationalError``, and what it recorded
before stands."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rengo.tracking import RunStore, StoreUnwritableError


def test_a_full_disk_is_named_with_the_store_and_what_to_free(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run_id = store.start_run("hfl", {"rounds": 3})
        store.save_checkpoint(run_id, 1, b"round one")
        assert store._conn is not None
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk holds no more
        with pytest.raises(StoreUnwritableError) as caught:
            store.save_checkpoint(run_id, 2, bytes(200_000))
    assert str(path) in str(caught.value)
    assert "database or disk is full" in str(caught.value)
    assert "free space on its disk" in str(caught.value)
    with RunStore(path) as store:
        assert store.checkpoint_rounds(run_id) == [1]


def test_a_read_only_store_is_named_with_the_store_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run_id = store.start_run("hfl", {"rounds": 3})
        assert store._conn is not None
        store._conn.execute("PRAGMA query_only = ON")  # as SQLite answers a read-only file
        with pytest.raises(StoreUnwritableError) as caught:
            store.log_event(run_id, "info", "a party joined")
    assert str(path) in str(caught.value)
    assert "readonly database" in str(caught.value) and "writable" in str(caught.value)
    assert not isinstance(caught.value, sqlite3.Error)


FULL_AT_CREATION = """
import resource, signal, sys
from rengo.tracking import RunStore, StoreUnwritableError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    RunStore(sys.argv[1])
except StoreUnwritableError as exc:
    print(exc)
    sys.exit(3)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file size limits")
def test_a_store_the_disk_had_no_room_to_make_is_made_once_there_is_room(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    made = subprocess.run(
        [sys.executable, "-c", FULL_AT_CREATION, str(path)], capture_output=True, text=True
    )
    assert made.returncode == 3, made.stdout + made.stderr
    assert str(path) in made.stdout and "cannot be written" in made.stdout
    assert sorted(f.name for f in tmp_path.iterdir()) == []  # no empty store left behind
    with RunStore(path) as store:  # room again: a new store, not "a truncated store"
        assert store.list_runs() == []


@pytest.mark.parametrize(
    ("kind", "recorded"),
    [("hfl", "interrupted"), ("hfl-deployed", "interrupted"), ("vfl", "failed")],
)
def test_a_run_stopped_by_a_full_disk_is_interrupted_to_resume_with_its_rounds(
    tmp_path: Path, kind: str, recorded: str
) -> None:
    """Before, `rengo run` stopped by a full disk was recorded failed: once there was room
    again, `--resume` refused it ('it failed; only an interrupted run can be resumed'), though
    its rounds and checkpoints stood. A vertical run resumes from its roles' checkpoints only
    where its body says so: failed here."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        with pytest.raises(StoreUnwritableError), store.run(kind, {"rounds": 3}) as run:
            assert run.run_id is not None and store._conn is not None
            store.log_round(run.run_id, 1, {"accuracy": 0.5}, 1.0, 2, 0)
            store.save_checkpoint(run.run_id, 1, b"round one")
            pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
            store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk holds no more
            store.save_checkpoint(run.run_id, 2, bytes(200_000))
        store._conn.execute("PRAGMA max_page_count = 1073741823")  # room again
        info = store.get_run(run.run_id)
        assert info.status == recorded and not info.owner_gone  # recorded so, not inferred
        assert [r.round for r in store.rounds(run.run_id)] == [1]
        assert store.checkpoint_rounds(run.run_id) == [1]
        if recorded == "interrupted":
            assert store.resume_run(run.run_id, kind).status == "running"
