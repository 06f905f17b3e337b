"""SplitNN learns: split into image halves it is as accurate as the same network trained
centrally on whole images; three parties learn breast cancer; the same seed gives the
same model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rengo.metrics import roc_auc
from rengo.vfl import SplitNNClassifier
from rengo.vfl.splitnn import fit_central


@pytest.fixture(scope="module")
def split_digits(digits: dict[str, Any], digits_settings: dict[str, Any]) -> SplitNNClassifier:
    model = SplitNNClassifier(seed=0, **digits_settings)
    return model.fit(digits["train"], "left", digits["y"][~digits["test"]])


def test_image_halves_reach_the_accuracy_of_whole_images_trained_centrally(
    digits: dict[str, Any], split_digits: SplitNNClassifier
) -> None:
    test = digits["test"]
    split = split_digits.score(digits["held_out"], digits["y"][test])
    central = fit_central(
        digits["x"][~test], digits["y"][~test], split_digits.config, parties=2, seed=0
    ).score(digits["x"][test], digits["y"][test])
    assert central > 0.9
    assert split >= central - 0.02, (split, central)
    # each half alone is clearly worse: the parties need each other
    assert split > 0.9


def test_losses_fall_and_predictions_are_probabilities(
    digits: dict[str, Any], split_digits: SplitNNClassifier
) -> None:
    losses = split_digits.losses_
    assert len(losses) == split_digits.epochs and losses[-1] < losses[0] / 4
    _, proba = split_digits.predict_proba(digits["held_out"])
    assert proba.shape == (int(digits["test"].sum()), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(split_digits.classes_, np.arange(10))
    np.testing.assert_array_equal(
        split_digits.predict(digits["held_out"]).values, np.argmax(proba, axis=1)
    )


def test_three_parties_learn_breast_cancer(cancer: dict[str, Any]) -> None:
    model = SplitNNClassifier(epochs=8, batch_size=32, learning_rate=0.01, seed=1)
    model.fit(cancer["parties"], "card", cancer["labels"])
    assert set(model.feature_models_) == {"bank", "telecom"}
    ids, positive = model.predict_raw(cancer["parties"])
    truth = dict(zip(cancer["ids"], cancer["y"], strict=True))
    y = np.array([truth[i] for i in ids])
    assert roc_auc(y, positive) > 0.97
    assert np.mean((positive >= 0.5) == y) > 0.93


def test_the_same_seed_gives_the_same_model_and_predictions(cancer: dict[str, Any]) -> None:
    def fit() -> SplitNNClassifier:
        model = SplitNNClassifier(epochs=2, batch_size=64, seed=4)
        return model.fit(cancer["parties"], "card", cancer["labels"])

    first, second = fit(), fit()
    assert first.losses_ == second.losses_
    for a, b in zip(first.label_model_.top, second.label_model_.top, strict=True):
        np.testing.assert_array_equal(a, b)
    for name in ("bank", "telecom"):
        for a, b in zip(
            first.feature_models_[name].bottom, second.feature_models_[name].bottom, strict=True
        ):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        first.predict_proba(cancer["parties"]).values,
        second.predict_proba(cancer["parties"]).values,
    )
    other = SplitNNClassifier(epochs=2, batch_size=64, seed=5)
    other.fit(cancer["parties"], "card", cancer["labels"])
    assert other.losses_ != first.losses_


def test_progress_reports_every_epoch(cancer: dict[str, Any]) -> None:
    seen: list[tuple[int, int]] = []
    model = SplitNNClassifier(epochs=3, batch_size=128, seed=2)
    model.fit(
        cancer["parties"],
        "card",
        cancer["labels"],
        progress=lambda record: seen.append((record.epoch, record.epochs)),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
