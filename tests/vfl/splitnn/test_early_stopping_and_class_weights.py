"""SplitNN takes SecureBoost's and hetero LR's spelling of early stopping and class weights:
``validation_fraction`` holds a share of the aligned rows out of training, training stops
once their loss has not improved by ``tol`` for ``n_iter_no_change`` epochs, and
``class_weight`` weighs the label party's loss. Before, each was refused as an unknown
option. (That the weighted loss and the held-out rows train exactly the centralised
network is checked in test_central_equivalence.py; that nothing new leaks, in
test_privacy.py.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import SplitNNClassifier, VerticalProgress
from rengo.vfl.early_stopping import should_stop
from rengo.vfl.splitnn.roles import EpochRecord

STOPPING = {
    "epochs": 60,
    "learning_rate": 0.05,
    "validation_fraction": 0.25,
    "n_iter_no_change": 2,
    "seed": 4,
}


@pytest.fixture(scope="module")
def stopped(cancer: dict[str, Any]) -> SplitNNClassifier:
    return SplitNNClassifier(**STOPPING).fit(cancer["parties"], "card", cancer["labels"])


def test_training_stops_once_the_validation_loss_has_stopped_improving(
    stopped: SplitNNClassifier,
) -> None:
    held = stopped.validation_losses_
    ran = stopped.n_epochs_
    assert 2 < ran < 60 and len(held) == len(stopped.losses_) == ran
    assert should_stop(held, 2, stopped.config.tol)
    assert not any(should_stop(held[:k], 2, stopped.config.tol) for k in range(1, ran))
    assert {m.epochs_run for m in stopped.feature_models_.values()} == {ran}
    assert stopped.fit_run_.coordinator.training.epochs_run == ran  # type: ignore[union-attr]


def test_held_out_rows_are_never_trained_on(stopped: SplitNNClassifier) -> None:
    gradients, labels, _ = stopped.received_gradients("bank", epoch=0)
    aligned = len(stopped.train_labels_)
    held = round(0.25 * aligned)
    assert len(gradients) == len(labels) == aligned - held


def test_the_same_seed_stops_at_the_same_epoch_with_the_same_model(
    stopped: SplitNNClassifier, cancer: dict[str, Any]
) -> None:
    again = SplitNNClassifier(**STOPPING).fit(cancer["parties"], "card", cancer["labels"])
    assert again.n_epochs_ == stopped.n_epochs_
    assert again.validation_losses_ == stopped.validation_losses_
    _, p = stopped.predict_proba(cancer["parties"])
    _, q = again.predict_proba(cancer["parties"])
    np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


def test_a_validation_share_that_never_stops_training_warns_as_secureboost_does(
    cancer: dict[str, Any],
) -> None:
    model = SplitNNClassifier(epochs=2, validation_fraction=0.2, seed=1)
    with pytest.warns(UserWarning, match="n_iter_no_change = 0 never stops early"):
        model.fit(cancer["parties"], "card", cancer["labels"])
    assert model.n_epochs_ == 2 and len(model.validation_losses_) == 2


def test_progress_shows_each_epochs_validation_loss(
    cancer: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    records: list[EpochRecord] = []
    events: list[VerticalProgress] = []
    options = {"epochs": 2, "validation_fraction": 0.2, "n_iter_no_change": 5, "seed": 1}
    model = SplitNNClassifier(**options, progress=events.append)
    model.fit(cancer["parties"], "card", cancer["labels"], progress=records.append)
    assert [r.validation_loss for r in records] == model.validation_losses_
    ends = [e for e in events if e.party == "card" and e.stage == "train" and e.ends_epoch]
    assert [e.validation_loss for e in ends] == model.validation_losses_
    SplitNNClassifier(**options).fit(cancer["parties"], "card", cancer["labels"], progress=True)
    assert "validation loss" in capsys.readouterr().out


def test_balanced_class_weights_raise_the_rare_class_recall(cancer: dict[str, Any]) -> None:
    """A 1:9 subsample of the malignant class; balanced weights make the model call more
    of the rare rows malignant than the unweighted one does, on the same seed."""
    parties, labels = cancer["parties"], cancer["labels"]
    rare = np.flatnonzero(labels == 1)[::6]
    keep = np.sort(np.concatenate([np.flatnonzero(labels == 0), rare]))
    ids = parties["card"][0][keep]
    subset = {
        name: (own_ids[np.isin(own_ids, ids)], x[np.isin(own_ids, ids)])
        for name, (own_ids, x) in parties.items()
    }
    called = {}
    for weight in ("none", "balanced"):
        model = SplitNNClassifier(epochs=3, learning_rate=0.005, class_weight=weight, seed=2)
        model.fit(subset, "card", labels[keep])
        scored, p = model.predict_proba(subset)
        truth = dict(zip(ids, labels[keep], strict=True))
        positive = np.array([truth[i] == 1 for i in scored])
        called[weight] = float((np.asarray(p)[positive, 1] > 0.5).mean())
    assert called["balanced"] > called["none"]


def test_bad_settings_are_refused_naming_the_option_or_the_party(
    cancer: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError, match="validation_fraction"):
        SplitNNClassifier(validation_fraction=1.0).fit(cancer["parties"], "card", cancer["labels"])
    with pytest.raises(ConfigError, match="n_iter_no_change"):
        SplitNNClassifier(n_iter_no_change=-1).fit(cancer["parties"], "card", cancer["labels"])
    with pytest.raises(DataError, match=r"card: class_weight names class 5"):
        SplitNNClassifier(epochs=1, class_weight={5: 2.0}).fit(
            cancer["parties"], "card", cancer["labels"]
        )


def test_a_validation_share_that_holds_out_no_row_is_refused_not_stopped_on_training_loss(
    cancer: dict[str, Any],
) -> None:
    """Before, 0.0001 of the aligned rows rounded to 0 held-out rows and early stopping
    silently followed the training loss (``validation_losses_`` empty). The refusal names
    the party, as SecureBoost's does."""
    model = SplitNNClassifier(epochs=3, validation_fraction=0.0001, n_iter_no_change=1)
    refused = r"^(card|bank|telecom): validation_fraction = 0.0001 holds out none of"
    with pytest.raises(DataError, match=refused):  # led by the party that saw it first
        model.fit(cancer["parties"], "card", cancer["labels"])
