"""Contribution records keep how sure each value is: standard errors and confidence
intervals survive the run store (schema version 3), and a store written before them
migrates, its old records reading as unknown."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rengo.core.errors import DataError
from rengo.tracking import SCHEMA_VERSION, RunStore, record_contributions, run_contributions
from rengo.tracking.schema import MIGRATIONS
from rengo.valuation import ContributionReport, RoundContribution


def test_errors_and_intervals_round_trip_through_the_store(tmp_path: Path) -> None:
    rounds = (
        RoundContribution(
            1, {"a": 1.0, "b": 2.0}, 10, 8, False, {"a": 0.1, "b": 0.2}, {"a": 7.0, "b": 7.0}, "x"
        ),
        RoundContribution(
            2,
            {"a": 0.5, "b": 0.5},
            10,
            8,
            False,
            {"a": 0.0, "b": 0.3},
            {"a": float("inf"), "b": 7.0},
            "y",
        ),
    )
    report = ContributionReport(
        "gtg",
        {"a": 1.5, "b": 2.5},
        rounds,
        20,
        16,
        stderr={"a": 0.1, "b": 0.36},
        dof={"a": 7.0, "b": 13.0},
    )
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("hfl", {})
        assert record_contributions(store, run, report) == 6
        found = run_contributions(store, run)
        records = store.contributions(run)
    assert found.stderr == {"a": 0.1, "b": 0.36}
    assert found.intervals == report.intervals()  # floats stored exactly in SQLite REAL
    assert found.confidence == 0.95
    first = records[0]
    assert (first.round, first.participant, first.stderr) == (1, "a", 0.1)
    assert first.ci_low is not None and first.ci_low < 1.0 < (first.ci_high or 0.0)


def test_unknown_errors_are_null_and_bad_ones_refused(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("hfl", {})
        store.log_contribution(run, None, "a", "loo", 1.0)
        store.log_contribution(run, None, "b", "tmc", 1.0, stderr=float("inf"))
        with pytest.raises(DataError):
            store.log_contribution(run, None, "c", "tmc", 1.0, stderr=-0.1)
        with pytest.raises(DataError, match="confidence"):
            store.log_contribution(run, None, "c", "tmc", 1.0, stderr=0.1, interval=(0.8, 1.2))
        assert [r.stderr for r in store.contributions(run)] == [None, None]


def test_a_version_2_store_migrates_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statements in MIGRATIONS[:2]:
        for statement in statements:
            conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (2)")
    conn.execute(
        "INSERT INTO runs (run_id, kind, status, started_at, config, rengo_version, hostname) "
        "VALUES ('r1', 'hfl', 'completed', '2025-01-01T00:00:00+00:00', '{}', '0.1', 'h')"
    )
    conn.execute(
        "INSERT INTO contributions (run_id, created_at, round, participant, method, value) "
        "VALUES ('r1', '2025-01-01T00:00:00+00:00', NULL, 'a', 'gtg', 0.25)"
    )
    conn.commit()
    conn.close()
    with RunStore(path) as store:
        old = run_contributions(store, "r1")
        store.log_contribution(
            "r1", None, "b", "gtg", 0.5, stderr=0.05, interval=(0.4, 0.6), confidence=0.95
        )
        both = store.contributions("r1")
    assert old.totals == {"a": 0.25} and old.stderr == {} and old.intervals == {}
    assert [(r.participant, r.stderr) for r in both] == [("a", None), ("b", 0.05)]
    check = sqlite3.connect(path)
    assert check.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    check.close()
