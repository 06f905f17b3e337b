"""A run's duration and liveness do not move with the machine's clock: NTP stepping a
drifting VM's clock back or forward by an hour while a run runs changes neither how long
`rengo runs list` and `rengo runs show` say it took, nor how long the dashboard says it has
run, nor whether the run reads as running."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console

from rengo.core.errors import ConfigError
from rengo.tracking import RunInfo, RunStore, run_detail, runs_table
from rengo.tracking.liveness import STALE_S
from rengo.ui.views import run_header

START = datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)


class SteppedClock:
    """A wall clock and a monotonic clock that run together until :meth:`step` moves only
    the wall clock (what NTP or an operator setting the time does)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wall, self.steady = START, 0.0
        monkeypatch.setattr("rengo.tracking.store._now", lambda: self.wall)
        # raising=False: on sources without a monotonic count the test still runs, and fails
        monkeypatch.setattr("rengo.tracking.store._monotonic", lambda: self.steady, raising=False)

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.steady += seconds

    def step(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)


def _took(run_id: str, store: RunStore) -> tuple[str, str]:
    """What `rengo runs list` says in its "took" column and `rengo runs show` as duration."""
    console = Console(width=200, record=True, color_system=None)
    console.print(runs_table([store.get_run(run_id)], now=START))
    listed = console.export_text()
    console.print(run_detail(store, run_id))
    shown = next(line for line in console.export_text().splitlines() if "duration" in line)
    return listed, shown


@pytest.mark.parametrize("step_s", [-3600.0, 3600.0])
def test_a_clock_step_during_a_run_leaves_its_duration_as_long_as_it_ran(
    store: RunStore, monkeypatch: pytest.MonkeyPatch, step_s: float
) -> None:
    clock = SteppedClock(monkeypatch)
    run_id = store.start_run("hfl", {}, "ntp-step")
    clock.advance(30)
    clock.step(step_s)
    clock.advance(12)
    store.finish_run(run_id, "completed")
    assert store.get_run(run_id).duration_s == pytest.approx(42.0)
    listed, shown = _took(run_id, store)
    assert "42.0s" in listed
    assert "42.0s" in shown and "-" not in shown.split("duration")[1]


def test_a_clock_step_while_a_run_lay_interrupted_does_not_change_its_duration(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SteppedClock(monkeypatch)
    run_id = store.start_run("hfl", {})
    clock.advance(20)
    store.finish_run(run_id, "interrupted")
    clock.advance(600)
    clock.step(-3600)  # set back an hour before the run is resumed
    store.resume_run(run_id)
    clock.advance(5)
    store.finish_run(run_id, "completed")
    run = store.get_run(run_id)
    assert run.duration_s == pytest.approx(25.0)
    assert run.paused_s >= 0


def test_a_run_finished_by_another_store_counts_from_its_last_heartbeat(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SteppedClock(monkeypatch)
    run_id = store.start_run("hfl", {})
    clock.advance(10)
    store.heartbeat(run_id)
    clock.advance(3)
    with RunStore(store.path) as other:  # e.g. `rengo runs close` in another process
        other.finish_run(run_id, "failed")
    assert store.get_run(run_id).duration_s == pytest.approx(13.0)


def test_the_dashboard_says_how_long_a_running_run_has_run_from_the_server(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SteppedClock(monkeypatch)
    run_id = store.start_run("hfl", {})
    clock.advance(40)
    clock.step(-3600)
    store.heartbeat(run_id)
    clock.advance(2)
    header = run_header(store.get_run(run_id), now=clock.wall)
    # the page shows this; it used to take Date.now() - started_at in the viewer's browser,
    # negative for a viewer (or a clock) behind the coordinator's
    assert header["running_s"] == pytest.approx(42.0)
    store.finish_run(run_id, "completed")
    assert run_header(store.get_run(run_id), now=clock.wall)["running_s"] is None


def test_a_run_recorded_without_a_monotonic_count_never_reads_a_negative_duration() -> None:
    # as an older rengo recorded it: only wall-clock times, the finish an hour "before" the
    # start after the clock was set back
    run = RunInfo("r", "hfl", None, "completed", START, START - timedelta(hours=1), {}, None, None)
    assert run.duration_s == 0.0


def test_a_wall_clock_step_forward_does_not_make_a_live_run_on_this_host_resumable(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NTP stepping this host's clock an hour forward aged every running run's heartbeat by
    an hour: until its next heartbeat a live run read `interrupted`, and `--resume` would
    take it over from the process still running it."""
    clock = SteppedClock(monkeypatch)
    run_id = store.start_run("hfl", {})  # owned by this (live) process, on this host
    clock.advance(2)
    clock.step(3600)
    assert store.get_run(run_id).status == "running"
    with pytest.raises(ConfigError, match="still running"):
        store.resume_run(run_id)
    clock.advance(STALE_S + 1)  # silent for longer than a heartbeat may be: hung
    assert store.get_run(run_id).status == "interrupted"
