"""Partners in different time zones pick the same runs by day when they name the zone.

A run started at 23:30 UTC on November 30 is a December run in Tokyo: without a zone,
`rengo rewards totals --since 2026-11-01 --until 2026-11-30` paid EUR 10.00 on a UTC
machine and reported "no ledger lines" on one in Tokyo. ``--tz UTC`` makes both agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})
NOVEMBER = ["--since", "2026-11-01", "--until", "2026-11-30"]


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with one paid run started in November's last half hour, UTC."""
    path = tmp_path / "runs.db"
    monkeypatch.setattr(
        "rengo.tracking.store._now", lambda: datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)
    )
    with RunStore(path) as store:
        run_id = store.start_run("hfl", {}, "november-close")
        store.append_ledger(run_id, None, "hospital-a", "reward", 1000, currency="EUR")
        store.finish_run(run_id, "completed")
    monkeypatch.undo()
    return path


@pytest.fixture
def machine_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set this process's local time zone (as a machine in that zone has it)."""

    def set_zone(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York", "UTC"])
def test_rewards_totals_by_utc_day_agree_whatever_the_machines_zone(
    store_path: Path, machine_zone: Callable[[str], None], zone: str
) -> None:
    machine_zone(zone)
    result = runner.invoke(
        app, ["rewards", "totals", "--store", str(store_path), *NOVEMBER, "--tz", "UTC"]
    )
    assert result.exit_code == 0, result.output
    assert "hospital-a" in result.output and "10.00" in result.output


def test_runs_list_reads_the_days_in_the_zone_given(
    store_path: Path, machine_zone: Callable[[str], None]
) -> None:
    machine_zone("UTC")  # the machine's own zone does not decide when --tz is given
    without = runner.invoke(app, ["runs", "list", "--store", str(store_path), *NOVEMBER])
    assert "november-close" in without.output
    tokyo = runner.invoke(
        app, ["runs", "list", "--store", str(store_path), *NOVEMBER, "--tz", "Asia/Tokyo"]
    )
    utc = runner.invoke(app, ["runs", "list", "--store", str(store_path), *NOVEMBER, "--tz", "UTC"])
    assert tokyo.exit_code == 0 and utc.exit_code == 0, tokyo.output + utc.output
    assert "november-close" not in tokyo.output  # December 1st, 08:30 in Tokyo
    assert "november-close" in utc.output


def test_an_unknown_zone_is_a_one_line_usage_error(store_path: Path) -> None:
    result = runner.invoke(app, ["runs", "list", "--store", str(store_path), "--tz", "Mars/Base"])
    assert result.exit_code == 2
    assert "tz must be a time zone name like Europe/Berlin or UTC, got 'Mars/Base'" in result.output


def test_runs_delete_reads_its_day_in_the_zone_given_and_a_zone_alone_selects_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, machine_zone: Callable[[str], None]
) -> None:
    """``runs delete --until`` took the day in this machine's zone only; ``--tz`` alone must
    not read as a filter that every run matches."""
    path = tmp_path / "runs.db"
    monkeypatch.setattr(
        "rengo.tracking.store._now", lambda: datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)
    )
    with RunStore(path) as store:
        store.finish_run(store.start_run("hfl", {}, "november-close"), "completed")
    monkeypatch.undo()
    machine_zone("UTC")
    base = ["runs", "delete", "--store", str(path), "--until", "2026-11-30", "--yes"]
    tokyo = runner.invoke(app, [*base, "--tz", "Asia/Tokyo"])
    assert tokyo.exit_code == 0 and "no run to delete" in tokyo.output, tokyo.output
    alone = runner.invoke(app, ["runs", "delete", "--store", str(path), "--tz", "UTC", "--yes"])
    assert alone.exit_code == 2 and "name the runs to delete" in alone.output, alone.output
    with RunStore(path, read_only=True) as store:
        assert [run.name for run in store.list_runs()] == ["november-close"]
    utc = runner.invoke(app, [*base, "--tz", "UTC"])
    assert utc.exit_code == 0, utc.output
    with RunStore(path, read_only=True) as store:
        assert store.list_runs() == []
