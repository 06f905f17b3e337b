"""A run store written before contribution scores kept their standard errors (schema 1 and
2: the releases of 2026-11-24 to 2026-12-02) is read by ``rengo runs show`` and ``rengo
runs card`` as it is: the scores shown, their errors not recorded, the store's schema left
alone. The read-only opening leaves an earlier schema unmigrated, and reading its scores
asked for the ``stderr`` column it lacks: both commands ended in a trace, ``sqlite3.
OperationalError: no such column: stderr``.

The store is built here from the schema's shipped migrations (which are never edited), as
those releases wrote it: no copy of an old release is needed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore
from rengo.tracking.schema import MIGRATIONS

runner = CliRunner(env={"COLUMNS": "250"})

RUN_ID = "20261201-101500-a1b2c3"


def _store_of_schema(path: Path, version: int) -> None:
    """A store at schema ``version`` holding one completed run with two contribution
    scores, written with the statements that version shipped with."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    conn.execute(
        "INSERT INTO runs (run_id, kind, name, status, started_at, finished_at, config, "
        "summary, seed, rengo_version, hostname) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (RUN_ID, "hfl", "before-errors", "completed", "2026-12-01T10:15:00+00:00",
         "2026-12-01T10:16:00+00:00", "{}", None, 7, "0.1.0", "old-host"),
    )  # fmt: skip
    for seq, (who, value) in enumerate([("hospital-a", 0.375), ("hospital-b", 0.125)], 1):
        conn.execute(
            "INSERT INTO contributions (seq, run_id, created_at, round, participant, method, "
            "value) VALUES (?,?,?,?,?,?,?)",
            (seq, RUN_ID, "2026-12-01T10:16:00+00:00", None, who, "gtg-shapley", value),
        )
    conn.close()


def _schema(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


@pytest.mark.parametrize("version", [1, 2])
def test_contribution_scores_of_a_store_before_their_errors_read_with_errors_not_recorded(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "runs.db"
    _store_of_schema(path, version)
    with RunStore(path, read_only=True) as store:
        scores = store.contributions(RUN_ID)
    assert [(c.participant, c.value) for c in scores] == [
        ("hospital-a", 0.375), ("hospital-b", 0.125),
    ]  # fmt: skip
    assert all(c.stderr is None and c.ci_low is None and c.ci_high is None for c in scores)
    assert _schema(path) == version


@pytest.mark.parametrize("command", [["runs", "show"], ["runs", "card"]], ids=" ".join)
@pytest.mark.parametrize("version", [1, 2])
def test_showing_a_run_of_a_store_before_contribution_errors_names_its_scores_and_leaves_it(
    tmp_path: Path, version: int, command: list[str]
) -> None:
    path = tmp_path / "runs.db"
    _store_of_schema(path, version)
    before = path.read_bytes()
    result = runner.invoke(app, [*command, RUN_ID, "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert "hospital-a" in result.output and "hospital-b" in result.output
    assert path.read_bytes() == before


@pytest.mark.parametrize("version", [1, 2])
def test_showing_a_runs_parties_of_an_older_store_leaves_its_schema_and_bytes(
    tmp_path: Path, version: int
) -> None:
    """``rengo runs parties RUN`` with no --admit/--remove only shows: it used to open the
    store for writing and migrate it to the newest schema, which the older release refuses."""
    path = tmp_path / "runs.db"
    _store_of_schema(path, version)
    before = path.read_bytes()
    result = runner.invoke(app, ["runs", "parties", RUN_ID, "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert RUN_ID in result.output
    assert _schema(path) == version
    assert path.read_bytes() == before
