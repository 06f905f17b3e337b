"""A store whose write lock another process holds longer than a write waits (a `rengo runs
compact` rewriting a large store) is named in a StoreBusyError with what to do: before,
SQLite's bare "database is locked" reached the user as a traceback (`rengo run`, which also
took the write lock to open a store already at its schema)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore, StoreBusyError
from rengo.tracking import store as store_module

HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # the write lock, as a long VACUUM holds it
    print("HOLDING", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    """
)


@pytest.fixture
def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A store with one interrupted run whose write lock another process holds; writes here
    wait a tenth of a second for it."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run_id = store.start_run("hfl", {"rounds": 3}, name="waiting")
        store.log_round(run_id, 1, {"accuracy": 0.5}, 1.0, 2, 0)
        store.finish_run(run_id, "interrupted")
    monkeypatch.setattr(store_module, "_BUSY_TIMEOUT_S", 0.1)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == b"HOLDING"
    try:
        yield path, run_id
    finally:
        holder.stdin.close()
        holder.wait(60)


@pytest.mark.timeout(120)
def test_a_write_to_a_store_held_by_another_process_is_a_clear_error(
    held: tuple[Path, str],
) -> None:
    path, run_id = held
    with RunStore(path) as store:  # opening a store of this schema takes no lock
        with pytest.raises(StoreBusyError) as caught:
            store.log_round(run_id, 2, {"accuracy": 0.75}, 1.0, 2, 0)
        assert [r.round for r in store.rounds(run_id)] == [1]  # reading never waits
    message = str(caught.value)
    assert str(path) in message and "is busy" in message and "Try again" in message
    assert not isinstance(caught.value, sqlite3.Error)


@pytest.mark.timeout(120)
def test_rengo_runs_close_on_a_held_store_says_so_in_one_line(held: tuple[Path, str]) -> None:
    path, run_id = held
    result = CliRunner().invoke(
        app, ["runs", "close", run_id, "--reason", "superseded", "--store", str(path)]
    )
    assert result.exit_code == 1, result.output
    assert "is busy" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
