"""Label leakage (Li et al., ICLR 2022): the norm and direction attacks recover the labels
from undefended cut-layer gradients, and the noise defences lower their leak AUC."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import SplitNNClassifier
from rengo.vfl.splitnn import defend_gradients, leak_auc


@pytest.fixture(scope="module")
def zeros(digits: dict[str, Any]) -> dict[str, Any]:
    """Digits as "is it a 0?" (10% positives, the imbalance the norm attack feeds on)."""
    labels = (digits["y"][~digits["test"]] == 0).astype(np.int64)
    return {"data": digits["train"], "labels": labels}


def fitted(zeros: dict[str, Any], **defense: Any) -> SplitNNClassifier:
    model = SplitNNClassifier(epochs=2, batch_size=64, seed=0, **defense)
    return model.fit(zeros["data"], "left", zeros["labels"])


@pytest.fixture(scope="module")
def undefended(zeros: dict[str, Any]) -> SplitNNClassifier:
    return fitted(zeros)


def test_undefended_gradients_leak_the_labels(undefended: SplitNNClassifier) -> None:
    assert undefended.leak_auc("right", "norm", epoch=0) > 0.95
    assert undefended.leak_auc("right", "direction") > 0.97


@pytest.mark.parametrize("defense", ["gaussian", "max_norm"])
def test_noise_on_the_returned_gradients_lowers_the_leak_auc(
    zeros: dict[str, Any], undefended: SplitNNClassifier, defense: str
) -> None:
    defended = fitted(zeros, defense=defense, noise_scale=1.0)
    for attack in ("norm", "direction"):
        before = undefended.leak_auc("right", attack)  # type: ignore[arg-type]
        after = defended.leak_auc("right", attack)  # type: ignore[arg-type]
        assert after < before - 0.1, (defense, attack, before, after)
    assert defended.leak_auc("right", "norm", epoch=0) < 0.8


def test_received_gradients_are_what_crossed_the_bus(undefended: SplitNNClassifier) -> None:
    gradients, labels, batches = undefended.received_gradients("right", epoch=0)
    assert gradients.shape == (len(undefended.train_labels_), undefended.embedding_dim)
    assert gradients.dtype == np.float32 and sorted(labels) == sorted(undefended.train_labels_)
    assert sum(len(b) for b in batches) == len(gradients)
    everything, _, _ = undefended.received_gradients("right")
    assert len(everything) == 2 * len(gradients)
    with pytest.raises(ConfigError, match="not a feature party"):
        undefended.received_gradients("left")
    with pytest.raises(ConfigError, match="out of range"):
        undefended.received_gradients("right", epoch=2)


def test_leak_auc_of_separable_gradients_is_one() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 20)
    direction = rng.normal(size=4)
    gradients = np.outer(np.where(labels == 1, -1.0, 0.2), direction)
    gradients *= rng.uniform(1, 2, (40, 1))
    gradients[labels == 1] *= 10
    assert leak_auc(gradients, labels, "norm") == 1.0
    assert leak_auc(gradients, labels, "direction") == 1.0
    assert leak_auc(gradients, labels, "norm", positive=0) == 0.0


def test_leak_auc_of_label_independent_gradients_is_near_one_half() -> None:
    rng = np.random.default_rng(1)
    gradients, labels = rng.normal(size=(4000, 8)), rng.integers(0, 2, 4000)
    for attack in ("norm", "direction"):
        assert abs(leak_auc(gradients, labels, attack) - 0.5) < 0.05  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.01, 100.0))
def test_leak_auc_ignores_the_gradients_scale(seed: int, scale: float) -> None:
    """The norm attack ranks norms (invariant to one positive scale); the direction attack
    compares directions (invariant to each row's positive scale)."""
    rng = np.random.default_rng(seed)
    gradients = rng.normal(size=(30, 3))
    labels = np.r_[np.ones(5, dtype=int), rng.integers(0, 2, 25)]
    rows = rng.uniform(0.1, 10.0, (30, 1))
    assert leak_auc(gradients * scale, labels) == pytest.approx(leak_auc(gradients, labels))
    assert leak_auc(gradients * rows, labels, "direction") == pytest.approx(
        leak_auc(gradients, labels, "direction")
    )


def test_defences_add_the_stated_noise() -> None:
    rng = np.random.default_rng(2)
    gradients = rng.normal(size=(64, 16)) * rng.uniform(0.1, 3, (64, 1))
    exact = defend_gradients(gradients, "none", 1.0, rng)
    np.testing.assert_array_equal(exact, gradients.astype(np.float32))
    np.testing.assert_array_equal(defend_gradients(gradients, "gaussian", 0.0, rng), exact)
    largest = np.max(np.sum(gradients**2, axis=1))
    noise = np.stack(
        [defend_gradients(gradients, "gaussian", 2.0, rng) - exact for _ in range(200)]
    )
    # per coordinate std = scale * max norm / sqrt(d)
    assert np.std(noise) == pytest.approx(2.0 * np.sqrt(largest / 16), rel=0.05)
    lifted = np.stack([defend_gradients(gradients, "max_norm", 1.0, rng) for _ in range(400)])
    mean_square = np.mean(np.sum(lifted.astype(np.float64) ** 2, axis=2), axis=0)
    np.testing.assert_allclose(mean_square, largest, rtol=0.2)  # every row lifted to the max


def test_bad_measurements_are_refused() -> None:
    gradients = np.ones((4, 2))
    with pytest.raises(ConfigError, match="attack must be one of"):
        leak_auc(gradients, np.array([0, 1, 0, 1]), "angle")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="one label per row"):
        leak_auc(gradients, np.array([0, 1]))
    with pytest.raises(DataError, match="finite"):
        leak_auc(np.full((2, 2), np.nan), np.array([0, 1]))
    with pytest.raises(DataError, match="positive row"):
        leak_auc(gradients, np.zeros(4), "direction")
    with pytest.raises(ConfigError, match="unknown defense"):
        defend_gradients(gradients, "laplace", 1.0, np.random.default_rng())
