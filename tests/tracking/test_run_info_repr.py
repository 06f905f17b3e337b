"""``store.list_runs()`` at the end of a notebook cell shows each run by its repr, which
printed every run's config and summary whole: 4,505 characters for one 2-round run of a
job file (its input scaling alone is 128 numbers), so a store of a few dozen runs flooded
the cell. A run now shows one line: who it is, how it ended, how much it holds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rengo.tracking import RunInfo

STARTED = datetime(2026, 12, 7, 20, 11, 44, 894174, tzinfo=timezone.utc)


def _run(**changes: object) -> RunInfo:
    fields: dict[str, object] = {
        "run_id": "20261207-201144-eac0ac",
        "kind": "hfl",
        "name": "digits-job",
        "status": "completed",
        "started_at": STARTED,
        "finished_at": STARTED + timedelta(seconds=0.5),
        "config": {"input_standardization": {"mean": [0.125] * 64, "scale": [2.0] * 64}},
        "summary": {"wall_time_s": 0.5, "rounds": 2},
        "seed": 0,
    }
    fields.update(changes)
    return RunInfo(**fields)  # type: ignore[arg-type]


def test_a_run_s_repr_is_one_line_that_names_it_and_how_it_ended() -> None:
    text = repr(_run())
    assert "\n" not in text and len(text) < 250, text
    assert "run_id='20261207-201144-eac0ac'" in text and "name='digits-job'" in text
    assert "status='completed'" in text and "started_at='2026-12-07 20:11:44+00:00'" in text
    assert "duration_s=0.5" in text and "seed=0" in text
    assert "config=1 key," in text and "summary=2 keys" in text
    assert "0.125" not in text  # no config value


def test_a_running_run_without_a_summary_says_so() -> None:
    text = repr(_run(status="running", finished_at=None, summary=None))
    assert "status='running'" in text and "not finished" in text and "no summary" in text
    assert "summary=0 keys" in repr(_run(summary={}))  # an empty summary is another thing


def test_a_long_run_s_duration_reads_in_plain_digits_and_hours() -> None:
    """A 3 h run showed ``duration_s=1.08e+04`` (17 s off, in scientific notation)."""
    text = repr(_run(finished_at=STARTED + timedelta(seconds=10817)))
    assert "duration_s=10817.0 (3:00:17)" in text and "e+" not in text
