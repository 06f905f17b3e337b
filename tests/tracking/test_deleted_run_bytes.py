"""A deleted run's rows leave no readable bytes behind in the store's file or its
write-ahead log, whatever the SQLite build's default for ``secure_delete`` (off unless
SQLite was built with ``SQLITE_SECURE_DELETE``, as Debian's is: where it is off, a deleted
run's config and events stayed readable in the file's free pages; on any build the log held
them until it was reused)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from rengo.tracking import RunStore

SECRET = b"SECRET-PATIENT-4711"


@pytest.fixture
def build_without_secure_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection opened as on a SQLite built without ``SQLITE_SECURE_DELETE``."""
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conn.execute("PRAGMA secure_delete = OFF")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


def record(store: RunStore, name: str, text: str) -> str:
    with store.run("hfl", {"cohort": text * 40}, name=name) as run:
        store.log_event(run.run_id, "info", text * 20)
    return run.run_id


def secrets_on_disk(path: Path) -> dict[str, int]:
    found = {}
    for file in sorted(path.parent.glob(path.name + "*")):
        found[file.name] = file.read_bytes().count(SECRET)
    return found


def test_a_run_deleted_by_a_later_process_leaves_no_bytes_in_the_file(
    tmp_path: Path, build_without_secure_delete: None
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        record(store, "kept", "a-kept-run ")
        gone = record(store, "gone", SECRET.decode() + " row 17 label 1 ")
        record(store, "kept-too", "another-kept-run ")
    assert sum(secrets_on_disk(path).values()) > 0  # written, as a run is
    with RunStore(path) as store:
        store.delete_run(gone)
    assert secrets_on_disk(path) == {"runs.db": 0}
    with RunStore(path, read_only=True) as reader:
        assert sorted(r.name or "" for r in reader.list_runs()) == ["kept", "kept-too"]


def test_a_run_deleted_by_the_process_holding_the_store_leaves_none_in_its_log(
    tmp_path: Path, build_without_secure_delete: None
) -> None:
    """A coordinator or notebook holding the store open deletes a run: before, its rows
    stayed in ``runs.db-wal`` for as long as the store was held."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        record(store, "kept", "a-kept-run ")
        gone = record(store, "gone", SECRET.decode() + " row 17 label 1 ")
        store.delete_run(gone)
        assert all(count == 0 for count in secrets_on_disk(path).values())
        assert [r.name for r in store.list_runs()] == ["kept"]
