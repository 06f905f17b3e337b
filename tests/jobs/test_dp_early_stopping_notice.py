"""Early stopping under DP that watches a mean of the clients' own metrics (train_*,
eval_*, un-noised) decides from them when the run stops and which round's model it keeps:
the job warned of nothing, and the model card said epsilon bounds 'what the released models
reveal' while the model it keeps (round 1 of 3, by eval_loss) was picked by data the
guarantee does not cover. A job now warns, and the card lists it outside the guarantee."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from rengo.jobs import build_hfl_job, parse_job
from rengo.tracking import RunStore, model_card
from rengo.tracking.dp_card import central_dp_rows

BASE = {
    "data": {"dataset": "iris", "standardize": False},
    "partition": {"num_clients": 5},
    "model": {"type": "logistic"},
    "strategy": {"fraction_evaluate": 1.0},
}


@pytest.mark.parametrize("dp", ["central", "local"])
@pytest.mark.parametrize("metric", ["eval_loss", "train_loss"])
def test_early_stopping_on_a_clients_mean_under_dp_is_flagged(dp: str, metric: str) -> None:
    model = {"type": "mlp"} if dp == "local" else BASE["model"]
    job = {**BASE, "model": model, "privacy": {"dp": dp}, "early_stopping": {"metric": metric}}
    with pytest.warns(UserWarning, match="the reported epsilon does not cover that choice"):
        build_hfl_job(parse_job(job))


def test_early_stopping_on_the_coordinators_metric_or_without_dp_is_not_flagged() -> None:
    central = {"metric": "central_loss"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_hfl_job(parse_job({**BASE, "privacy": {"dp": "central"}, "early_stopping": central}))
        build_hfl_job(parse_job({**BASE, "early_stopping": {"metric": "eval_loss"}}))


def _outside(tmp_path: Path, metric: str | None, dp: str = "central") -> str:
    """The model card's "<dp> DP: outside the guarantee" row, as ``rengo runs card`` shows it."""
    settings: dict[str, object] = {"privacy": {"dp": dp}}
    if metric is not None:
        settings["early_stopping"] = {"metric": metric}
    config: dict[str, object] = {"job_settings": settings}
    if dp == "central":
        config["dp"] = {"kind": "central", "noise_multiplier": 1.0}
    with RunStore(tmp_path / f"{dp}-{metric}.db") as store:
        run_id = store.start_run("hfl", config)
        store.log_round(run_id, 1, {"dp_epsilon": 1.0, "dp_delta": 1e-5}, 1.0, 2, 0)
        if dp == "central":
            rows = dict(central_dp_rows(store, store.get_run(run_id)))
            assert "outside the guarantee" in rows
        card = model_card(store, run_id)
    prefix = f"| {dp} DP: outside the guarantee | "
    found = [line for line in card.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, card
    return found[0]


@pytest.mark.parametrize("dp", ["central", "local"])
def test_the_card_lists_the_kept_rounds_choice_outside_the_guarantee(
    tmp_path: Path, dp: str
) -> None:
    """A local-DP card had no such row: its reader was not told that the kept model was
    picked by an un-noised mean of the clients' own evaluation."""
    assert "which round's model it keeps: early stopping chose them by eval_loss" in _outside(
        tmp_path, "eval_loss", dp
    )
    assert "early stopping" not in _outside(tmp_path, "central_loss", dp)
    assert "early stopping" not in _outside(tmp_path, None, dp)
