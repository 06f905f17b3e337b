"""`rengo runs delete --force` on a run another process is recording: the run is gone, and
its `rengo run` stops with one line saying so, writing nothing of the run back. Before, the
writer printed two tracebacks ("could not record the failure of run ...") and exited 2 as for
a typo."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore
from tests.cli.test_stop_signals import JOB, start_run_command

runner = CliRunner(env={"COLUMNS": "200"})

ENDLESS_JOB = JOB.replace("rounds = 500", "rounds = 1000000")  # it never ends by itself


def _rows(db: Path, table: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.mark.timeout(300)
def test_a_run_deleted_while_it_runs_stops_its_writer_with_one_line(tmp_path: Path) -> None:
    proc, db = start_run_command(tmp_path, ENDLESS_JOB)
    try:
        with RunStore(db, read_only=True) as store:
            (run,) = store.list_runs()
        run_id = run.run_id
        refused = runner.invoke(app, ["runs", "delete", run_id, "--yes", "--store", str(db)])
        assert refused.exit_code == 2 and "--force" in refused.output, refused.output
        deleted = runner.invoke(
            app, ["runs", "delete", run_id, "--force", "--yes", "--store", str(db)]
        )
        assert deleted.exit_code == 0, deleted.output
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    assert f"run {run_id} was deleted from run store" in out, out
    for table in ("runs", "rounds", "round_metrics", "client_rounds", "events", "checkpoints"):
        assert _rows(db, table) == 0, table  # nothing of the run written back
