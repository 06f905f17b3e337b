"""A decision threshold (``test_at_recall_threshold``) is an operating point chosen for a
target, not a score: no value of it is better. Before, every name without a loss-like word
read "higher is better", so the model card said a threshold was better higher, ``rengo runs
compare`` ranked runs by it and early stopping watched it as if larger were better."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.core.errors import DataError
from rengo.core.options import OptionError
from rengo.hfl import EarlyStopping
from rengo.metrics import better_direction
from rengo.tracking import RunStore, model_card
from rengo.tracking.run_comparison import compare_runs


@pytest.mark.parametrize(
    "metric, direction",
    [
        ("test_at_recall_threshold", None),
        ("central_at_precision_threshold", None),
        ("test_auc", "higher"),
        ("test_gini", "higher"),
        ("central_loss", "lower"),
        ("test_poisson_deviance", "lower"),
        ("neg_log_loss", "higher"),
    ],
)
def test_a_threshold_has_no_better_direction_and_scores_keep_theirs(metric, direction) -> None:
    assert better_direction(metric) == direction


def _run(store: RunStore, seed: int, threshold: float) -> str:
    config = {"job_settings": {"job": {"seed": seed}, "train": {"lr": 0.1 * (seed + 1)}}}
    run_id = store.start_run("hfl", config, name=f"run {seed}", seed=seed)
    store.log_round(
        run_id, 1, {"test_auc": 0.8 + seed / 100, "test_at_recall_threshold": threshold}, 0.1, 2, 0
    )
    store.finish_run(run_id, "completed")
    return run_id


def test_the_card_says_a_threshold_is_an_operating_point(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        card = model_card(store, _run(store, 0, 0.31))
    assert "| test_at_recall_threshold | 0.31 | 1 | neither (an operating point) |" in card
    assert "| test_auc | 0.8 | 1 | higher |" in card


def test_runs_are_ranked_by_a_threshold_only_when_told_which_way(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        ids = [_run(store, seed, 0.3 + seed / 10) for seed in range(2)]
        with pytest.raises(DataError, match=r"operating point.*--goal max or min"):
            compare_runs(store, ids, "test_at_recall_threshold")
        assert compare_runs(store, ids, "test_at_recall_threshold", "min").goal == "min"
        assert compare_runs(store, ids, "test_auc").goal == "max"


def test_early_stopping_asks_which_way_to_watch_a_threshold() -> None:
    with pytest.raises(OptionError, match="operating point"):
        EarlyStopping(metric="test_at_recall_threshold")
    assert EarlyStopping(metric="test_at_recall_threshold", mode="min").lower_is_better


def test_a_run_that_watched_a_threshold_with_mode_auto_still_gets_its_card(tmp_path: Path) -> None:
    """Recorded before rengo refused it: the card reads the rule as the run used it (auto
    then read a threshold as higher-better) instead of failing."""
    config = {
        "job_settings": {
            "job": {"seed": 0},
            "early_stopping": {"metric": "central_at_recall_threshold", "mode": "auto"},
        }
    }
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", config, name="old", seed=0)
        for k, value in enumerate([0.2, 0.6, 0.4], 1):
            store.log_round(run_id, k, {"central_at_recall_threshold": value}, 0.1, 2, 0)
        store.finish_run(run_id, "completed")
        card = model_card(store, run_id)
    assert "kept model (round 2)" in card
