"""A read-only store (what the dashboard opens) never blocks, changes or tears a store that
another process is writing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rengo.core.errors import ConfigError
from rengo.tracking import SCHEMA_VERSION, RunStore, StoreReadOnlyError

HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    from rengo.tracking import RunStore
    path = sys.argv[1]
    with RunStore(path) as store:
        run = store.start_run("hfl", {"rounds": 1}, name="held")
        store.log_round(run, 1, {"acc": 0.5}, 1.0, 2, 0)
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    # 1. hold a write transaction open while the parent reads
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO events (run_id, created_at, level, message) VALUES (?, ?, 'info', 'held')",
        (run, "2026-01-01T00:00:00+00:00"),
    )
    print("HOLDING", run, flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    print("COMMITTED", flush=True)
    # 2. write and commit while the parent holds a read snapshot open
    sys.stdin.readline()
    with RunStore(path) as store:
        store.log_round(run, 2, {"acc": 0.75}, 1.0, 2, 0)
    print("WROTE", flush=True)
    """
)

WRITER = textwrap.dedent(
    """
    import sys
    from rengo.tracking import RunStore
    with RunStore(sys.argv[1]) as store:
        run = store.start_run("hfl", {"rounds": 200}, name="busy")
        print(run, flush=True)
        for number in range(1, 201):
            store.log_client(run, number, "c1", "fit", "ok", 10, 100, 50, 0.01, None, {"loss": 1.0})
            store.log_round(run, number, {"acc": number / 200}, 0.01, 1, 0)
        store.finish_run(run, "completed", None)
    """
)


def _start(script: str, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(120)
def test_reader_and_writer_never_wait_for_each_other(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    holder = _start(HOLDER, path)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        word, run = holder.stdout.readline().split()
        assert word == "HOLDING"
        # The writer holds its transaction until we say so: a reader that waited for it
        # would hang here (and the test time out), so finishing proves it did not wait.
        with RunStore(path, read_only=True) as reader:
            assert [r.round for r in reader.rounds(run)] == [1]
            assert reader.events(run) == []  # nothing uncommitted is visible
            holder.stdin.write("commit\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "COMMITTED"
            assert [e.message for e in reader.events(run)] == ["held"]
        # Now we hold a read snapshot while the writer commits: it must not wait for us.
        snapshot = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        snapshot.execute("BEGIN")
        assert snapshot.execute("SELECT COUNT(*) FROM rounds").fetchone() == (1,)
        holder.stdin.write("write\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "WROTE"
        assert snapshot.execute("SELECT COUNT(*) FROM rounds").fetchone() == (1,)  # isolated
        snapshot.execute("COMMIT")
        assert snapshot.execute("SELECT COUNT(*) FROM rounds").fetchone() == (2,)
        snapshot.close()
        assert holder.wait(30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


@pytest.mark.timeout(120)
def test_reading_while_another_process_writes_loses_and_tears_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    RunStore(path).close()  # the file exists before the reader opens it
    writer = _start(WRITER, path)
    try:
        assert writer.stdout is not None
        run = writer.stdout.readline().strip()
        seen: list[int] = []
        with RunStore(path, read_only=True) as reader:
            while writer.poll() is None:
                rounds = [r.round for r in reader.rounds(run)]
                assert rounds == list(range(1, len(rounds) + 1))  # never a torn read
                clients = reader.client_records(run)
                assert len(clients) >= len(rounds)  # clients are logged before their round
                seen.append(len(rounds))
            assert writer.wait() == 0
            assert len(reader.rounds(run)) == 200 and reader.get_run(run).status == "completed"
        assert seen == sorted(seen)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_read_only_store_refuses_writes_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {})
    with RunStore(path, read_only=True) as reader:
        assert reader.get_run(run).run_id == run
        with pytest.raises(StoreReadOnlyError, match="read-only"):
            reader.log_round(run, 1, {"acc": 1.0}, 1.0, 1, 0)
        with pytest.raises(StoreReadOnlyError):
            reader.start_run("hfl", {})
    with pytest.raises(ConfigError, match="no run store at"):
        RunStore(tmp_path / "missing.db", read_only=True)
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a rengo run store"):
        RunStore(tmp_path / "junk.db", read_only=True)


def test_read_only_store_reads_an_older_schema_and_refuses_a_newer_one(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl-deployed", {})
    with sqlite3.connect(path) as conn:  # as a store written before presence existed
        conn.execute("DROP TABLE presence")
        conn.execute("UPDATE schema_version SET version = 1")
    with RunStore(path, read_only=True) as reader:
        assert reader.presence(run) == [] and reader.get_run(run).kind == "hfl-deployed"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigError, match="upgrade rengo"):
        RunStore(path, read_only=True)


def test_data_version_moves_when_another_connection_commits(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as writer, RunStore(path, read_only=True) as reader:
        before = reader.data_version()
        assert reader.data_version() == before
        writer.start_run("hfl", {})
        assert reader.data_version() != before


def test_read_only_store_reads_a_schema_3_store_written_before_run_owners(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {})
    with sqlite3.connect(path) as conn:  # as a store written before runs had owners (v4)
        conn.execute("ALTER TABLE runs DROP COLUMN owner_pid")
        conn.execute("ALTER TABLE runs DROP COLUMN heartbeat_at")
        conn.execute("UPDATE schema_version SET version = 3")
    with RunStore(path, read_only=True) as reader:
        assert reader.get_run(run).kind == "hfl"


def test_read_only_store_reads_the_ledger_of_a_schema_5_store_written_before_decimals(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {})
        store.append_ledger(run, None, "a", "reward", 150, currency="EUR")
    with sqlite3.connect(path) as conn:  # as a store written before lines had decimals (v6)
        conn.execute("ALTER TABLE ledger DROP COLUMN decimals")
        conn.execute("ALTER TABLE runs DROP COLUMN active_s")  # v7
        conn.execute("ALTER TABLE runs DROP COLUMN heartbeat_mono")
        conn.execute("UPDATE schema_version SET version = 5")
    with RunStore(path, read_only=True) as reader:
        [line] = reader.ledger(run)
    assert (line.amount, line.currency, line.decimals) == (150, "EUR", None)
    with RunStore(path) as writer:  # migrated: the old line keeps no decimals, new ones do
        writer.append_ledger(run, 1, "b", "reward", 7, currency="EUR", decimals=3)
        assert [e.decimals for e in writer.ledger(run)] == [None, 3]
