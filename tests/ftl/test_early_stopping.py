"""Held-out validation and early stopping of federated transfer learning: the held-out share
of the target's labels takes no part in training, its loss is the one scoring gives, early
stopping keeps the best epoch's encoders, and the options are refused naming the key."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ftl_scenarios import Scenario, parties, scenario

from rengo.core.errors import DataError
from rengo.core.options import OptionError
from rengo.core.roles import COORDINATOR
from rengo.ftl import TransferClassifier, TransferConfig
from rengo.metrics import log_loss
from rengo.vfl.early_stopping import validation_mask
from rengo.vfl.progress import RichVerticalProgress, VerticalProgress

FAST: dict[str, Any] = dict(
    security="plaintext", dim=4, source_hidden="8", target_hidden="8", batch_size=40
)
SEED = 5


@pytest.fixture(scope="module")
def small() -> Scenario:
    return scenario(rows=1200, seed=0, target_labels=60)


def fit(s: Scenario, target_labels: Any = None, **options: Any) -> TransferClassifier:
    model = TransferClassifier(seed=SEED, **{**FAST, **options})
    labels = s.split.target.labels if target_labels is None else target_labels
    return model.fit(parties(s), source="bank", y=s.split.source.labels, target_labels=labels)


def held_out_rows(s: Scenario, fraction: float) -> np.ndarray:
    """The target's rows the run's seed holds out (indices into its table)."""
    labelled = np.asarray(s.split.target.labelled)
    return labelled[validation_mask(SEED, len(labelled), fraction)]


def test_held_out_labels_take_no_part_in_training(small: Scenario) -> None:
    """Training with a validation share equals training without those labels at all."""
    held = fit(small, epochs=3, validation_fraction=0.25)
    rows = held_out_rows(small, 0.25)
    assert len(rows) == round(0.25 * len(small.split.target.labelled)) > 0
    without = np.array(small.split.target.labels, dtype=object)
    without[rows] = None
    reference = fit(small, target_labels=without, epochs=3)
    assert held.losses_ == reference.losses_
    for a, b in zip(held.target_model_.weights, reference.target_model_.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(held.validation_losses_) == 3 and reference.validation_losses_ == []


def test_the_held_out_loss_is_the_log_loss_scoring_gives(small: Scenario) -> None:
    """Each epoch's held-out loss goes through the prediction protocol: the last equals the
    log loss of predict_proba on the held-out rows."""
    model = fit(small, epochs=2, validation_fraction=0.25)
    rows = held_out_rows(small, 0.25)
    target = small.split.target
    p = model.predict_proba((target.ids[rows], target.X[rows]))[:, 1]
    y = np.array([int(v) for v in target.labels[rows]])
    assert model.validation_losses_[-1] == pytest.approx(log_loss(y, p), rel=1e-9)
    assert model.report_.validation_losses == model.validation_losses_
    last = model.validation_scores_[-1]
    assert last["accuracy"] == pytest.approx(float(np.mean((p >= 0.5) == y)))


def test_the_display_shows_an_epochs_held_out_loss() -> None:
    """A deployed coordinator's end-of-epoch event carries the held-out loss the target
    reported (its run record is checked in test_deployed); the display shows it."""
    event = VerticalProgress(
        COORDINATOR, "train", 4, 4, epoch=2, epochs=2, loss=1.25, validation_loss=0.5,
        ends_epoch=True,
    )  # fmt: skip
    shown = RichVerticalProgress._status(event)
    assert "loss 1.2500" in shown and "validation loss 0.5000" in shown


def test_a_simulation_reports_each_epochs_held_out_loss(small: Scenario) -> None:
    """progress= receives the target's end of every epoch with the held-out loss it
    computed (the label party's training events carry none: the source never hears it)."""
    events: list[VerticalProgress] = []
    model = fit(small, epochs=2, validation_fraction=0.25, progress=events.append)
    ends = [e for e in events if e.party == "shop" and e.stage == "train"]
    assert [e.validation_loss for e in ends] == model.validation_losses_
    assert all(e.ends_epoch for e in ends) and ends[-1].finished
    assert all(e.validation_loss is None for e in events if e.party == "bank")


def test_early_stopping_keeps_the_best_epochs_encoders(small: Scenario) -> None:
    """A learning rate that overfits the few labels: training stops n_iter_no_change epochs
    after the best held-out loss, and the model is the one trained for best_epoch_ epochs."""
    options: dict[str, Any] = dict(validation_fraction=0.25, learning_rate=0.05)
    stopped = fit(small, epochs=30, n_iter_no_change=2, tol=0.0, **options)
    best = stopped.best_epoch_
    history = stopped.validation_losses_
    assert stopped.n_epochs_ == len(history) == len(stopped.losses_) < 30
    assert best == int(np.argmin(history)) + 1 == stopped.n_epochs_ - 2
    assert stopped.report_.epochs_run == stopped.n_epochs_
    shorter = fit(small, epochs=best, **options)
    for a, b in zip(stopped.target_model_.weights, shorter.target_model_.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(stopped.source_model_.phi, shorter.source_model_.phi)
    rows = (small.split.test.ids, small.split.test.X)
    np.testing.assert_array_equal(stopped.predict_proba(rows), shorter.predict_proba(rows))


def test_without_a_validation_share_the_training_loss_decides(small: Scenario) -> None:
    """tol larger than any epoch's improvement: the run stops after n_iter_no_change + 1
    epochs, keeping the epoch of the lower training loss."""
    model = fit(small, epochs=10, n_iter_no_change=1, tol=10.0)
    assert model.n_epochs_ == 2 == len(model.losses_)
    assert model.best_epoch_ == int(np.argmin(model.losses_)) + 1
    assert model.validation_losses_ == []


@pytest.mark.parametrize(
    ("key", "value"), [("validation_fraction", 1.0), ("validation_fraction", -0.1), ("tol", -1.0)]
)
def test_validation_options_out_of_range_are_refused_naming_the_key(key: str, value: float) -> None:
    with pytest.raises(OptionError, match=key):
        TransferConfig(**{key: value})  # type: ignore[arg-type]


def test_a_validation_share_without_target_labels_is_refused_naming_it(small: Scenario) -> None:
    nothing = np.array([None] * len(small.split.target.labels), dtype=object)
    with pytest.raises(DataError, match="validation_fraction"):
        fit(small, target_labels=nothing, epochs=1, validation_fraction=0.2)
