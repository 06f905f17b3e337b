"""A SecureBoost run interrupted after tree k resumes from every role's checkpoints to the
very trees and predictions an uninterrupted run gives; a feature party keeps its split
lookup table and column ids, and refuses the checkpoints of another run."""

from __future__ import annotations

import json
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
from rengo.vfl.secureboost.config import SecureBoostConfig
from rengo.vfl.secureboost.model import TreeNode
from rengo.vfl.secureboost.resume import start_host, tree_from_wire, tree_to_wire

PASSPHRASE = "correct horse battery staple"
GUEST, HOSTS = "card", ("bank", "telecom")
TREES = 4
CONFIG = SecureBoostConfig(
    n_trees=TREES, max_depth=2, max_bin=8, key_bits=512, subsample=0.8, validation_fraction=0.2
)


def make_data(rows: int = 80) -> dict[str, PartyData]:
    """Three parties' columns of one small data set (a few empty cells); each party lacks a
    few customers."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(rows, 6))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x) @ np.array([0.9, -0.6, 0.4, 0.7, -0.5, 0.3]) > 0).astype(np.int64)
    return split_columns(x, y, rng, (GUEST, *HOSTS))


def plan_of(config: SecureBoostConfig = CONFIG, run: str | None = "run-1") -> VerticalPlan:
    return VerticalPlan(GUEST, HOSTS, config, seed=11, algorithm="secureboost", checkpoint_run=run)


def _anonymous(tree: tuple[TreeNode, ...]) -> list[dict[str, Any]]:
    # a feature party's column ids are drawn afresh by every run: compare the owner only;
    # the wire form compares NaN thresholds (leaves) as equal
    return tree_to_wire(
        tuple(replace(n, feature_label="") if n.owner in HOSTS else n for n in tree)
    )


def final_model(run: SimulatedRun) -> dict[str, Any]:
    guest = run.parties[GUEST].model
    return {
        "trees": [_anonymous(tree) for tree in guest.trees],
        "initial": guest.initial_score.tobytes(),
        "losses": (guest.train_losses, guest.validation_losses, guest.best_round),
        **{h: run.parties[h].model.splits for h in HOSTS},
        "scores": run.parties[GUEST].scores.tobytes(),  # type: ignore[union-attr]
    }


_UNINTERRUPTED: dict[str, dict[str, Any]] = {}


def uninterrupted(config: SecureBoostConfig) -> dict[str, Any]:
    """The run without checkpoints (computed once per key holder)."""
    if config.key_holder not in _UNINTERRUPTED:
        run = simulate_vertical(plan_of(config, run=None), make_data(), timeout=120)
        _UNINTERRUPTED[config.key_holder] = final_model(run)
    return _UNINTERRUPTED[config.key_holder]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("who", "key_holder"),
    [
        (GUEST, "label_party"),
        ("telecom", "label_party"),
        (COORDINATOR, "coordinator"),
        (GUEST, "coordinator"),
    ],
)
def test_a_run_interrupted_after_tree_k_resumes_to_the_uninterrupted_trees_and_predictions(
    who: str, key_holder: str, tmp_path: Path, crash_after: Any
) -> None:
    config = replace(CONFIG, key_holder=key_holder)
    data = make_data()
    crash_after(who, 2)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(config), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE)
    crash_after("nobody", 0)  # disarmed
    saved = {
        role: CheckpointFolder(tmp_path, "run-1", role, "secureboost")
        for role in (COORDINATOR, GUEST, *HOSTS)
    }
    # the killed role completed two trees; the others one or two (the failure reaches them
    # as they finish the tree): every role rolls back to the last tree all of them completed
    completed = {role: f.epochs() for role, f in saved.items()}
    assert completed[who] == [1, 2]
    assert all(epochs in ([1], [1, 2]) for epochs in completed.values())
    agreed = min(max(epochs) for epochs in completed.values())
    ids_before = {
        h: start_host(EpochCheckpoints(saved[h], saved[h].load_epoch(agreed)), 2, h) for h in HOSTS
    }

    resumed = simulate_vertical(
        plan_of(config), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert resumed.coordinator.resumed_after == agreed
    assert resumed.psi() is None  # the saved alignment was reused: no PSI again
    assert final_model(resumed) == uninterrupted(config)
    assert {role: f.epochs() for role, f in saved.items()} == {
        role: list(range(1, TREES + 1)) for role in saved
    }
    for host in HOSTS:
        # the anonymous column ids the label party knows stay the same across the restart
        before = ids_before[host]
        assert before is not None
        assert resumed.parties[host].model.feature_ids == before.feature_ids
        assert resumed.parties[host].model.splits[: len(before.splits)] == before.splits
    trees = resumed.parties[GUEST].model.trees
    assert resumed.coordinator.training.trees == TREES
    labels = {n.feature_label for tree in trees for n in tree if n.owner in HOSTS}
    ids = {f"{h}#{i}" for h in HOSTS for i in resumed.parties[h].model.feature_ids}
    assert labels <= ids


@pytest.mark.timeout(200)
def test_a_run_that_stopped_early_resumes_to_its_finished_model_without_another_tree(
    tmp_path: Path, crash_after: Any
) -> None:
    config = replace(CONFIG, n_trees=2, key_holder="coordinator")
    data = make_data()
    crash_after(COORDINATOR, 2)  # the last tree is checkpointed, then the coordinator dies
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(config), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE)
    crash_after("nobody", 0)
    resumed = simulate_vertical(
        plan_of(config), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE
    )
    assert resumed.coordinator.resumed_after == 2
    assert resumed.parties[GUEST].model.n_trees == 2
    # the counts of values decrypted survive the restart (no tree was grown again)
    decrypted = resumed.parties[GUEST].model.decrypted_values
    assert resumed.coordinator.training.decrypted_values == decrypted > 0
    assert CheckpointFolder(tmp_path, "run-1", GUEST, "secureboost").epochs() == [1, 2]


def test_a_tree_round_trips_exactly_through_its_checkpoint_form() -> None:
    tree = (
        TreeNode(0, owner="card", left=1, right=2, feature=1, threshold=0.1 + 0.2, gain=1 / 3),
        TreeNode(1, value=(np.nextafter(0.5, 1.0), -1e-300)),
        TreeNode(2, owner="bank", left=3, right=4, feature_label="bank#3", gain=2.5),
        TreeNode(3, value=(float("inf"),)),
        TreeNode(4, value=(7.0,)),
    )
    wire = json.loads(json.dumps(tree_to_wire(tree)))
    back = tree_from_wire(wire)
    assert tree_to_wire(back) == tree_to_wire(tree)
    assert [replace(n, threshold=0.0) for n in back] == [replace(n, threshold=0.0) for n in tree]
    assert back[0].threshold == 0.1 + 0.2 and np.isnan(back[1].threshold)


@pytest.mark.timeout(200)
def test_a_feature_partys_checkpoint_of_another_table_is_refused_with_the_reason(
    tmp_path: Path, crash_after: Any
) -> None:
    data = make_data()
    crash_after("bank", 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(), data, checkpoint_dir=tmp_path, passphrase=PASSPHRASE)
    bank = CheckpointFolder(tmp_path, "run-1", "bank", "secureboost")
    with pytest.raises(DataError, match="another table"):
        start_host(EpochCheckpoints(bank, bank.load_epoch(1)), 3, "bank")
