"""The local-DP model card's "outside the guarantee" row reused the central-DP text: it
listed update norms (under local DP each is post-processing of a client's DP-SGD update,
inside the guarantee) and, under secure aggregation, fit metrics, update norms and train_*
means the coordinator never saw (the store holds none). It now says what reached the
coordinator."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.tracking import RunStore, model_card

SECAGG = {"clip_range": 1.0, "neighbours": 0, "threshold": 0.5, "signed": False}


def _local_outside_row(tmp_path: Path, secagg: dict[str, object] | None) -> str:
    """The card's "local DP: outside the guarantee" row for a local-DP run."""
    privacy = {"dp": "local", "local": {"noise_multiplier": 1.0}, "secagg": secagg}
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {"job_settings": {"privacy": privacy}})
        store.log_round(run_id, 1, {"eval_loss": 0.5}, 1.0, 2, 0)
        card = model_card(store, run_id)
    (row,) = [x for x in card.splitlines() if x.startswith("| local DP: outside the guarantee |")]
    return row


@pytest.mark.parametrize("secagg", [None, SECAGG], ids=["plain", "secagg"])
def test_local_dp_card_never_puts_update_norms_outside_the_guarantee(
    tmp_path: Path, secagg: dict[str, object] | None
) -> None:
    row = _local_outside_row(tmp_path, secagg)
    assert "update norms" not in row
    assert "who took part each round" in row and "eval_* means" in row


def test_local_dp_card_without_secagg_lists_the_clients_fit_metrics_and_train_means(
    tmp_path: Path,
) -> None:
    row = _local_outside_row(tmp_path, None)
    assert "its own fit and evaluation metrics" in row
    assert "the un-noised train_* and eval_* means" in row
    assert "post-processing of its DP-SGD update: covered" in row


def test_local_dp_card_under_secagg_lists_no_fit_metrics_nor_train_means_as_released(
    tmp_path: Path,
) -> None:
    row = _local_outside_row(tmp_path, SECAGG)
    assert "fit metrics at the client: no train_* mean was released" in row
    assert "train_* and eval_*" not in row and "client metrics" not in row
