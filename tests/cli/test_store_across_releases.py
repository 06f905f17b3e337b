"""Looking at a run store an earlier release still writes leaves it as it is: ``rengo runs
list``, ``runs show`` and ``runs metrics`` (and ``rewards show``, ``rewards export``) read a
store of an older schema without migrating it, so the coordinator of the earlier release (not
upgraded yet) can still open it. Migrated by a look, it refused to: ``run store has schema
version 6 but this rengo knows only up to 4``. The store is the 2026-12-04 release's (schema
4) of ``test_resume_across_releases``."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app

runner = CliRunner(env={"COLUMNS": "250"})

FIXTURE = Path(__file__).parent / "fixtures" / "interrupted_run_2026-12-04.db.gz"
RUN_ID = "20261205-233719-86c296"


def _schema(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "list"],
        ["runs", "list", "--status", "interrupted"],
        ["runs", "show", RUN_ID],
        ["runs", "metrics", RUN_ID, "--out", "OUT"],
    ],
    ids=" ".join,
)
def test_reading_a_store_of_an_earlier_schema_shows_it_and_leaves_its_schema(
    tmp_path: Path, command: list[str]
) -> None:
    store_path = tmp_path / "runs.db"
    store_path.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    assert _schema(store_path) == 4
    out = tmp_path / "rounds.csv"
    args = [str(out) if word == "OUT" else word for word in command]
    result = runner.invoke(app, [*args, "--store", str(store_path)])
    assert result.exit_code == 0, result.output
    assert RUN_ID in result.output or "resumable" in result.output or out.exists()
    assert _schema(store_path) == 4
