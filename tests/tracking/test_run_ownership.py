"""Runs are never mislabelled or overwritten: only an interrupted run of the same kind can be
resumed; a run whose process is gone reads as interrupted; a damaged store is refused with
the file named and the way to recover, never recreated over."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from rengo.core.errors import ConfigError
from rengo.tracking import RunStore
from rengo.tracking.errors import StoreCorruptError
from rengo.tracking.liveness import STALE_S


def interrupted(store: RunStore, kind: str = "hfl-deployed") -> str:
    with pytest.raises(KeyboardInterrupt), store.run(kind, {}) as run:
        raise KeyboardInterrupt
    assert run.run_id is not None
    return run.run_id


def test_only_an_interrupted_run_of_the_same_kind_can_be_resumed(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("hfl-deployed", {}) as done:
            pass
        with pytest.raises(RuntimeError), store.run("hfl-deployed", {}) as failed:
            raise RuntimeError("boom")
        vertical = interrupted(store, "vfl")  # a job's simulated vertical run
        other = interrupted(store, "hfl")
        resumable = interrupted(store)
        refusals = {
            done.run_id: "it completed; only an interrupted run can be resumed",
            failed.run_id: "it failed; only an interrupted run can be resumed",
            vertical: "it is a 'vfl' run, not 'hfl-deployed'",
            other: "it is a 'hfl' run, not 'hfl-deployed'",
        }
        for run_id, reason in refusals.items():
            before = store.get_run(run_id)
            for given in (run_id, run_id[:-2]):  # by full id and by a (surely) unique prefix
                with pytest.raises(ConfigError, match=reason), store.resume(given, "hfl-deployed"):
                    pass
            after = store.get_run(run_id)
            assert (after.status, after.summary) == (before.status, before.summary)
        with store.resume(resumable, "hfl-deployed") as again:
            assert store.get_run(resumable).status == "running"
            with pytest.raises(ConfigError, match="still running"):
                store.resume_run(resumable, "hfl-deployed")
        assert again.run_id == resumable
        assert store.get_run(resumable).status == "completed"


def test_a_deployed_vertical_run_resumes_when_interrupted_never_once_completed(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        simulated = interrupted(store, "vfl")
        with pytest.raises(ConfigError, match=r"only deployed ones .*keep the checkpoints"):
            store.resume_run(simulated, "vfl")
        deployed = interrupted(store, "vfl-deployed")
        with store.resume(deployed[:-2], "vfl-deployed") as again:
            assert again.run_id == deployed
        assert store.get_run(deployed).status == "completed"
        with pytest.raises(ConfigError, match="it completed; only an interrupted run"):
            store.resume_run(deployed, "vfl-deployed")
        assert store.get_run(deployed).status == "completed"


def test_a_run_ended_by_an_error_it_declared_resumable_reads_interrupted_with_the_reason(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(ConnectionError), store.run("vfl-deployed", {}) as run:
            run.resumable_errors = (ConnectionError,)
            raise ConnectionError("bank left")
        assert run.run_id is not None
        assert store.get_run(run.run_id).status == "interrupted"
        (event,) = store.events(run.run_id)
        assert "run interrupted: ConnectionError: bank left" in event.message
        assert f"--resume {run.run_id}" in event.message
        with pytest.raises(ValueError), store.run("vfl-deployed", {}) as other:
            other.resumable_errors = (ConnectionError,)
            raise ValueError("a bug")
        assert other.run_id is not None and store.get_run(other.run_id).status == "failed"


def test_a_run_that_commands_extend_reopens_completed_but_never_failed_or_running(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("tournament", {}) as first:
            pass
        assert first.run_id is not None
        info = store.resume_run(first.run_id, "tournament", reopen_completed=True)
        assert info.status == "running"
        with pytest.raises(ConfigError, match="still running"):
            store.resume_run(first.run_id, "tournament", reopen_completed=True)
        with pytest.raises(RuntimeError), store.run("tournament", {}) as failed:
            raise RuntimeError("boom")
        assert failed.run_id is not None
        with pytest.raises(ConfigError, match="it failed"):
            store.resume_run(failed.run_id, "tournament", reopen_completed=True)


OWNER = textwrap.dedent(
    """
    import sys, time
    from rengo.tracking import RunStore
    store = RunStore(sys.argv[1])
    with store.run("hfl-deployed", {}) as run:
        print(run.run_id, flush=True)
        time.sleep(60)
    """
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_run_whose_process_was_killed_reads_interrupted_and_can_resume(
    tmp_path: Path, how: signal.Signals
) -> None:
    path = tmp_path / "runs.db"
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    run_id = owner.stdout.readline().strip()
    with RunStore(path) as store:
        info = store.get_run(run_id)
        assert (info.status, info.owner_pid, info.owner_gone) == ("running", owner.pid, False)
        owner.send_signal(how)
        owner.wait(20)
        owner.stdout.close()
        gone = store.get_run(run_id)
        assert gone.status == "interrupted" and gone.owner_gone
        assert [r.status for r in store.list_runs()] == ["interrupted"]
        with RunStore(path, read_only=True) as reader:  # a dashboard sees the same
            assert reader.get_run(run_id).status == "interrupted"
        with store.resume(run_id[:15], "hfl-deployed"):
            assert store.get_run(run_id).owner_pid == os.getpid()
        assert store.get_run(run_id).status == "completed"


def test_a_silent_owner_on_another_host_reads_interrupted_after_the_stale_limit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run_id = store.start_run("hfl-deployed", {})
        info = store.get_run(run_id)
        assert info.status == "running"
        old = (info.heartbeat_at - timedelta(seconds=STALE_S + 1)).isoformat()
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE runs SET hostname = 'elsewhere', heartbeat_at = ? WHERE run_id = ?",
                (old, run_id),
            )
        assert store.get_run(run_id).status == "interrupted"
        store.heartbeat(run_id)  # the owner speaks again: running
        assert store.get_run(run_id).status == "running"


def test_an_empty_store_file_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.touch()
    for read_only in (False, True):
        with pytest.raises(StoreCorruptError, match=r"empty \(0-byte\) file") as info:
            RunStore(path, read_only=read_only)
        assert str(path) in str(info.value)
    assert path.stat().st_size == 0


@pytest.mark.parametrize("tables", [["users"], ["runs"]])
def test_another_applications_database_is_refused_and_left_as_it_is(
    tmp_path: Path, tables: list[str]
) -> None:
    """`rengo runs list --store app.db` wrote rengo's ten tables into another application's
    SQLite file and switched it to WAL; one with its own `runs` table got a raw traceback."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        for table in tables:
            conn.execute(f"CREATE TABLE {table} (id INTEGER, what TEXT)")
            conn.execute(f"INSERT INTO {table} VALUES (1, 'payroll')")
    conn.close()
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(ConfigError, match="is not a rengo run store") as info:
            RunStore(path, read_only=read_only)
        assert str(path) in str(info.value) and tables[0] in str(info.value)
    assert path.read_bytes() == before
    assert not path.with_name("app.db-wal").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_store_names_the_file_and_how_to_recover(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        for i in range(40):
            run_id = store.start_run("hfl", {"padding": "x" * 2000})
            store.log_round(run_id, 1, {"acc": i / 40}, 1.0, 2, 0)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a database at all " * 500)
    else:
        path.write_bytes(data[:4096] + b"\0" * 100 + data[8192 : len(data) // 2])
    before = path.read_bytes()
    with pytest.raises(StoreCorruptError) as info, RunStore(path) as store:
        store.list_runs(limit=None)
        for run in store.list_runs(limit=None):
            store.rounds(run.run_id)
    message = str(info.value)
    assert str(path) in message and ".recover" in message and "mv " in message
    assert path.read_bytes() == before


def test_a_count_sqlite_cannot_hold_is_a_data_error_not_an_overflow(tmp_path: Path) -> None:
    from rengo.core.errors import DataError

    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {})
        with pytest.raises(DataError, match=r"num_examples = 9223372036854775808 does not fit"):
            store.log_client(run_id, 1, "c", "fit", "ok", 2**63, 0, 0, 0.0)
        store.log_client(run_id, 1, "c", "fit", "ok", 2**63 - 1, 0, 0, 0.0)
        assert store.client_records(run_id)[0].num_examples == 2**63 - 1


def test_on_windows_no_owner_is_signalled_and_its_heartbeat_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # signal 0 is CTRL_C_EVENT on Windows: os.kill(pid, 0) is no probe there
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run_id = store.start_run("hfl-deployed", {})
        fresh = store.get_run(run_id).heartbeat_at
        with sqlite3.connect(path) as conn:  # owned by a process that has ended, on this host
            conn.execute(
                "UPDATE runs SET owner_pid = ? WHERE run_id = ?", (int(ended.stdout), run_id)
            )
        signals: list[tuple[int, int]] = []
        monkeypatch.setattr(sys, "platform", "win32")
        monkeypatch.setattr(os, "kill", lambda pid, sig: signals.append((pid, sig)))
        assert store.get_run(run_id).status == "running"  # its heartbeat is fresh
        old = (fresh - timedelta(seconds=STALE_S + 1)).isoformat()
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE runs SET heartbeat_at = ?, heartbeat_mono = heartbeat_mono - ? "
                "WHERE run_id = ?",
                (old, STALE_S + 1, run_id),
            )
        assert store.get_run(run_id).status == "interrupted"
        assert signals == []
