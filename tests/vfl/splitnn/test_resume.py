"""A seeded SplitNN run interrupted after epoch k resumes from the parties' checkpoints to
the very networks and predictions an uninterrupted run trains (weights, Adam's state and
the defence's noise stream included); the coordinator keeps no epochs of its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vertical_split import split_columns

from rengo.core.errors import DataError
from rengo.core.roles import COORDINATOR
from rengo.vfl.checkpoints import CheckpointFolder, EpochCheckpoints
from rengo.vfl.common import PartyData
from rengo.vfl.runner import SimulatedRun, VerticalPlan, simulate_vertical
from rengo.vfl.splitnn.config import SplitNNConfig
from rengo.vfl.splitnn.coordinator import SplitNNReport
from rengo.vfl.splitnn.resume import start_party

GUEST, HOSTS = "card", ("bank", "telecom")
EPOCHS = 4
CONFIG = SplitNNConfig(
    epochs=EPOCHS,
    batch_size=16,
    learning_rate=0.01,
    bottom_hidden=8,
    embedding_dim=4,
    top_hidden=8,
    defense="gaussian",
    noise_scale=0.1,
)


def make_data(rows: int = 90) -> dict[str, PartyData]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, 6))
    y = (x @ np.array([0.9, -0.6, 0.4, 0.7, -0.5, 0.3]) > 0).astype(np.int64)
    return split_columns(x, y, rng, (GUEST, *HOSTS))


def plan_of(config: SplitNNConfig = CONFIG, run: str | None = "run-1") -> VerticalPlan:
    return VerticalPlan(GUEST, HOSTS, config, seed=11, algorithm="splitnn", checkpoint_run=run)


def final_model(run: SimulatedRun) -> dict[str, Any]:
    guest = run.parties[GUEST].model
    return {
        "bottom": [w.tobytes() for w in guest.bottom],
        "top": [w.tobytes() for w in guest.top],
        "losses": guest.losses,
        **{h: [w.tobytes() for w in run.parties[h].model.bottom] for h in HOSTS},
        "scores": run.parties[GUEST].scores.tobytes(),  # type: ignore[union-attr]
    }


_UNINTERRUPTED: dict[str, Any] = {}


def uninterrupted(config: SplitNNConfig) -> dict[str, Any]:
    if config.optimizer not in _UNINTERRUPTED:
        run = simulate_vertical(plan_of(config, run=None), make_data(), timeout=120)
        _UNINTERRUPTED[config.optimizer] = final_model(run)
    return _UNINTERRUPTED[config.optimizer]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("who", "optimizer"), [(GUEST, "adam"), ("bank", "adam"), (GUEST, "sgd")])
def test_a_run_interrupted_after_epoch_k_resumes_to_the_uninterrupted_networks_bit_for_bit(
    who: str, optimizer: str, tmp_path: Path, crash_after: Any
) -> None:
    config = replace(CONFIG, optimizer=optimizer)
    data = make_data()
    crash_after(who, 2)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(config), data, checkpoint_dir=tmp_path)
    crash_after("nobody", 0)
    folders = {p: CheckpointFolder(tmp_path, "run-1", p, "splitnn") for p in (GUEST, *HOSTS)}
    completed = {p: f.epochs() for p, f in folders.items()}
    assert completed[who] == [1, 2]
    agreed = min(max(epochs) for epochs in completed.values())
    assert agreed >= 1
    resumed = simulate_vertical(plan_of(config), data, checkpoint_dir=tmp_path)
    assert resumed.coordinator.resumed_after == agreed
    # the coordinator, which follows the epochs, counts those before the resume too
    assert resumed.coordinator.training == SplitNNReport(EPOCHS)
    assert resumed.psi() is None
    assert final_model(resumed) == uninterrupted(config)
    assert CheckpointFolder(tmp_path, "run-1", COORDINATOR, "splitnn").epochs() == []
    assert folders[GUEST].epochs() == list(range(1, EPOCHS + 1))


@pytest.mark.timeout(120)
def test_a_checkpoint_of_other_settings_is_refused_with_the_reason(
    tmp_path: Path, crash_after: Any
) -> None:
    crash_after("bank", 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(), make_data(), checkpoint_dir=tmp_path)
    bank = CheckpointFolder(tmp_path, "run-1", "bank", "splitnn")
    with pytest.raises(DataError, match="resume with the table and settings"):
        start_party(EpochCheckpoints(bank, bank.load_epoch(1)), "bank", [2, 16, 4])


@pytest.mark.timeout(120)
def test_a_resumed_run_stacks_the_embeddings_in_the_order_its_checkpoint_was_trained_in(
    tmp_path: Path, crash_after: Any
) -> None:
    """New runs stack the feature parties' embeddings in name order whatever the plan's
    order; a checkpoint keeps that order, and one written before rengo kept it (then the
    plan's order) resumes in the plan's order, as its top model was trained: resumed in
    name order it would read each party's embedding where another's was learnt."""
    listed = ("telecom", "bank")  # not name order
    plan = VerticalPlan(
        GUEST, listed, replace(CONFIG, epochs=3), seed=11, algorithm="splitnn",
        checkpoint_run="run-1",
    )  # fmt: skip

    def crashed(folder: Path) -> CheckpointFolder:
        crash_after(GUEST, 1)
        with pytest.raises(crash_after.error):
            simulate_vertical(plan, make_data(), checkpoint_dir=folder)
        crash_after("nobody", 0)
        return CheckpointFolder(folder, "run-1", GUEST, "splitnn")

    kept = crashed(tmp_path / "kept").load_epoch(1)
    assert kept.values["hosts"] == ["bank", "telecom"]
    resumed = simulate_vertical(plan, make_data(), checkpoint_dir=tmp_path / "kept")
    assert resumed.parties[GUEST].model.hosts == ("bank", "telecom")

    guest = crashed(tmp_path / "older")
    state = guest.load_epoch(1)
    older = {k: v for k, v in state.values.items() if k != "hosts"}  # as rengo wrote it before
    guest.save_epoch(replace(state, values=older))
    resumed = simulate_vertical(plan, make_data(), checkpoint_dir=tmp_path / "older")
    assert resumed.parties[GUEST].model.hosts == listed


def test_a_checkpoint_of_other_feature_parties_is_refused() -> None:
    from rengo.vfl.splitnn.resume import SplitNNResume, top_input_order

    old = SplitNNResume(1, [], [], {}, 0, hosts=("bank", "shop"))
    with pytest.raises(DataError, match="resume with the parties the run started with"):
        top_input_order(old, ["bank", "telecom"])
    assert top_input_order(None, ["telecom", "bank"]) == ["bank", "telecom"]
    assert top_input_order(replace(old, hosts=None), ["telecom", "bank"]) == ["telecom", "bank"]


EARLY = replace(CONFIG, validation_fraction=0.2, n_iter_no_change=1, tol=10.0)
"""Stops after epoch 2 of 4: the second validation loss cannot beat the first by 10."""


@pytest.mark.timeout(120)
def test_an_early_stopped_run_resumed_after_epoch_1_stops_where_the_uninterrupted_run_did(
    tmp_path: Path, crash_after: Any
) -> None:
    data = make_data()
    whole = simulate_vertical(plan_of(EARLY, run=None), data, timeout=120)
    assert whole.parties[GUEST].model.epochs_run == 2
    crash_after(GUEST, 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(EARLY), data, checkpoint_dir=tmp_path)
    crash_after("nobody", 0)
    resumed = simulate_vertical(plan_of(EARLY), data, checkpoint_dir=tmp_path)
    assert resumed.coordinator.training == SplitNNReport(2)
    held_out = [run.parties[GUEST].model.validation_losses for run in (resumed, whole)]
    assert held_out[0] == held_out[1]
    assert final_model(resumed) == final_model(whole)
    # run once more: it had stopped, so no epoch 3
    again = simulate_vertical(plan_of(EARLY), data, checkpoint_dir=tmp_path)
    assert final_model(again) == final_model(whole)
    assert CheckpointFolder(tmp_path, "run-1", GUEST, "splitnn").epochs() == [1, 2]
