"""A transfer-learning run interrupted after epoch k resumes from every role's checkpoints
to the very encoders, translator and predictions an uninterrupted run gives (encrypted
exchanges, so a restarted party may hold new keys); a checkpoint of another table is
refused with the reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ftl_scenarios import Scenario, scenario

from rengo.core.errors import DataError
from rengo.core.roles import COORDINATOR
from rengo.ftl import TransferConfig
from rengo.ftl.encoders import build_encoder, make_optimizer
from rengo.ftl.resume import restore_party, start_party
from rengo.vfl import PartyData, PartyTable, VerticalPlan, simulate_vertical
from rengo.vfl.checkpoints import CheckpointFolder, EpochCheckpoints
from rengo.vfl.runner import SimulatedRun

pytest.importorskip("torch", reason="transfer learning needs the torch extra")

SOURCE, TARGET = "bank", "shop"
EPOCHS = 3
CONFIG = TransferConfig(
    dim=4, source_hidden="6", target_hidden="5", epochs=EPOCHS, batch_size=40, key_bits=512
)


@pytest.fixture(scope="module")
def small() -> Scenario:
    return scenario(rows=300, seed=4, target_labels=20)


def party_data(s: Scenario) -> dict[str, PartyData]:
    split = s.split
    return {
        SOURCE: PartyData(PartyTable(split.source.ids, split.source.X), split.source.labels),
        TARGET: PartyData(
            PartyTable(split.target.ids, split.target.X),
            split.target.labels,
            PartyTable(split.test.ids, split.test.X),
        ),
    }


def plan_of(config: TransferConfig, run: str | None = "run-1") -> VerticalPlan:
    return VerticalPlan(SOURCE, (TARGET,), config, 3, algorithm="ftl", checkpoint_run=run)


def final_model(run: SimulatedRun) -> dict[str, Any]:
    source, target = run.parties[SOURCE].model, run.parties[TARGET].model
    return {
        "source": [w.tobytes() for w in source.weights],
        "phi": source.phi.tobytes(),
        "losses": source.losses,
        "target": [w.tobytes() for w in target.weights],
        "report": run.coordinator.training.losses,
        "scores": run.parties[TARGET].scores.tobytes(),  # type: ignore[union-attr]
    }


_UNINTERRUPTED: dict[str, Any] = {}


def uninterrupted(config: TransferConfig, data: dict[str, PartyData]) -> dict[str, Any]:
    key = f"{config.security}/{config.optimizer}"
    if key not in _UNINTERRUPTED:
        run = simulate_vertical(plan_of(config, run=None), data, timeout=240)
        _UNINTERRUPTED[key] = final_model(run)
    return _UNINTERRUPTED[key]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("who", "security", "optimizer"),
    [
        (TARGET, "homomorphic", "adam"),
        (SOURCE, "plaintext", "adam"),
        (COORDINATOR, "plaintext", "sgd"),
    ],
)
def test_a_run_interrupted_after_epoch_k_resumes_to_the_uninterrupted_encoders_bit_for_bit(
    who: str, security: str, optimizer: str, small: Scenario, tmp_path: Path, crash_after: Any
) -> None:
    config = replace(CONFIG, security=security, optimizer=optimizer)
    data = party_data(small)
    crash_after(who, 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(config), data, checkpoint_dir=tmp_path, timeout=240)
    crash_after("nobody", 0)
    folders = {
        r: CheckpointFolder(tmp_path, "run-1", r, "ftl") for r in (COORDINATOR, SOURCE, TARGET)
    }
    completed = {r: f.epochs() for r, f in folders.items()}
    assert completed[who] == [1]
    resumed = simulate_vertical(plan_of(config), data, checkpoint_dir=tmp_path, timeout=240)
    assert resumed.coordinator.resumed_after == min(max(e, default=0) for e in completed.values())
    assert resumed.psi() is None
    assert final_model(resumed) == uninterrupted(config, data)
    assert {r: f.epochs() for r, f in folders.items()} == {
        r: list(range(1, EPOCHS + 1)) for r in folders
    }


@pytest.mark.timeout(300)
def test_a_checkpoint_that_does_not_fit_the_encoder_is_refused_with_the_reason(
    small: Scenario, tmp_path: Path, crash_after: Any
) -> None:
    config = replace(CONFIG, security="plaintext")
    crash_after(TARGET, 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(config), party_data(small), checkpoint_dir=tmp_path)
    shop = CheckpointFolder(tmp_path, "run-1", TARGET, "ftl")
    resumed = start_party(EpochCheckpoints(shop, shop.load_epoch(1)), TARGET)
    assert resumed is not None and resumed.epochs_run == 1
    wider = build_encoder(small.split.target.X.shape[1] + 1, (5,), 4, "tanh", [1, 2])
    with pytest.raises(DataError, match="resume with the table and settings"):
        restore_party(resumed, wider, make_optimizer(wider, "adam", 0.01), TARGET)
    assert np.isfinite(resumed.encoder[0]).all()


@pytest.mark.timeout(300)
def test_a_run_interrupted_between_its_best_epoch_and_its_stop_keeps_the_best_encoders(
    small: Scenario, tmp_path: Path, crash_after: Any
) -> None:
    """Early stopping's state (the held-out history, the best epoch's encoders) survives a
    restart: resumed after the epoch following the best, the run stops where an
    uninterrupted one does, with the same encoders and held-out losses."""
    config = replace(
        CONFIG,
        security="plaintext",
        epochs=10,
        learning_rate=0.05,
        validation_fraction=0.3,
        n_iter_no_change=2,
        tol=0.0,
    )
    data = party_data(small)
    whole = simulate_vertical(plan_of(config, run=None), data, timeout=240)
    target = whole.parties[TARGET].model
    best, ran = target.best_epoch, target.epochs_run
    assert best >= 1 and ran == best + 2 < config.epochs  # it stopped early
    crash_after(TARGET, best + 1)
    with pytest.raises(crash_after.error):
        simulate_vertical(plan_of(config), data, checkpoint_dir=tmp_path, timeout=240)
    crash_after("nobody", 0)
    resumed = simulate_vertical(plan_of(config), data, checkpoint_dir=tmp_path, timeout=240)
    assert final_model(resumed) == final_model(whole)
    again = resumed.parties[TARGET].model
    assert (again.best_epoch, again.epochs_run) == (best, ran)
    assert again.validation == target.validation
    assert resumed.coordinator.training.validation == whole.coordinator.training.validation
