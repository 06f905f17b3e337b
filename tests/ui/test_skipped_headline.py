"""The skip mark of a skipped round (``round_skipped`` = 1) is never a run's headline metric:
a run whose every round was skipped shows no headline, on its page and in the runs list."""

from __future__ import annotations

from pathlib import Path

from rengo.core.skipped_round import ROUND_SKIPPED
from rengo.tracking import RunStore
from rengo.ui.views import headline_metric, run_overview, runs_overview


def _record(path: Path, metrics: list[dict[str, float]]) -> str:
    store = RunStore(path)
    run = store.start_run("hfl", {"strategy": "FedAvg", "rounds": len(metrics)}, "skips", 0)
    for number, values in enumerate(metrics, start=1):
        store.log_round(run, number, values, 0.5, 2, 4)
    store.finish_run(run, "completed")
    return run


def test_a_run_whose_every_round_was_skipped_has_no_headline(tmp_path: Path) -> None:
    run = _record(tmp_path / "runs.db", [{ROUND_SKIPPED: 1.0}] * 3)
    store = RunStore(tmp_path / "runs.db")
    assert run_overview(store, run)["headline"] is None
    assert [row["headline"] for row in runs_overview(store)["runs"]] == [None]


def test_the_skip_mark_never_wins_over_a_metric_that_sorts_after_it(tmp_path: Path) -> None:
    assert headline_metric([ROUND_SKIPPED, "zz_score"]) == "zz_score"
    assert headline_metric([ROUND_SKIPPED]) is None
    skipped, ran = {ROUND_SKIPPED: 1.0}, {"zz_score": 0.25}
    run = _record(tmp_path / "runs.db", [skipped, ran, skipped])
    headline = run_overview(RunStore(tmp_path / "runs.db"), run)["headline"]
    assert headline == {"metric": "zz_score", "best": {"round": 2, "value": 0.25}}
