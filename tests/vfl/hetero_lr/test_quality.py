"""Hetero LR on breast cancer split over three parties matches a central scikit-learn fit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import HeteroLogisticRegression, PartyTable, VerticalDataset
from rengo.vfl.hetero_lr.math import roc_auc

L2 = 0.01
COLUMNS = {"a": slice(0, 10), "b": slice(10, 20), "c": slice(20, 30)}


@pytest.fixture(scope="module")
def split() -> dict:
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    ids = np.array([f"patient-{i:05d}" for i in range(len(y))])
    rng = np.random.default_rng(0)
    keep = {p: np.sort(rng.choice(len(y), len(y) - 15, replace=False)) for p in COLUMNS}
    data = {p: (ids[keep[p]], x[keep[p], COLUMNS[p]]) for p in keep}
    model = HeteroLogisticRegression(
        key_bits=512,
        epochs=8,
        batch_size=64,
        learning_rate=0.05,
        l2=L2,
        tol=0.0,
        seed=1,
        key_seed=2,
    ).fit(data, label_party="a", y=y[keep["a"]])
    return {"x": x, "y": y, "ids": ids, "model": model, "keep": keep}


def test_fit_trains_on_exactly_the_ids_every_party_holds(split: dict) -> None:
    ids, keep = split["ids"], split["keep"]
    shared = set(ids[keep["a"]]) & set(ids[keep["b"]]) & set(ids[keep["c"]])
    assert set(split["model"].train_ids_) == shared
    assert len(split["model"].train_ids_) == len(shared)


def test_auc_within_half_a_point_of_central_sklearn_with_same_l2(split: dict) -> None:
    model, x, y, ids = split["model"], split["x"], split["y"], split["ids"]
    trained_on = np.isin(ids, model.train_ids_)
    central = LogisticRegression(C=1.0 / (trained_on.sum() * L2), max_iter=10_000)
    central.fit(x[trained_on], y[trained_on])
    full = {p: (ids, x[:, COLUMNS[p]]) for p in COLUMNS}
    scored_ids, proba = model.predict_scores(full)
    np.testing.assert_array_equal(scored_ids, ids)  # label party's order, nobody misses a row
    ours = roc_auc(y, proba)
    reference = roc_auc(y, central.decision_function(x))
    assert abs(ours - reference) < 0.005, (ours, reference)
    assert model.losses_[-1] < model.losses_[0]


def test_plain_and_encrypted_scoring_agree(split: dict) -> None:
    model, x, ids = split["model"], split["x"], split["ids"]
    rows = np.arange(0, 60)
    data = {p: (ids[rows], x[rows, COLUMNS[p]]) for p in COLUMNS}
    encrypted_ids, encrypted = model.predict_proba(data)
    model.predict_mode = "plain"
    try:
        plain_ids, plain = model.predict_proba(data)
    finally:
        model.predict_mode = "encrypted"
    np.testing.assert_array_equal(encrypted_ids, ids[rows])
    np.testing.assert_array_equal(plain_ids, ids[rows])
    np.testing.assert_allclose(encrypted, plain, atol=1e-8)
    weights = model.coefficients()
    score = sum(x[rows, COLUMNS[p]] @ weights[p] for p in COLUMNS) + model.guest_model_.intercept
    np.testing.assert_allclose(plain[:, 1], 1 / (1 + np.exp(-score)), atol=1e-12)
    np.testing.assert_array_equal(model.predict(data).values, (plain[:, 1] >= 0.5).astype(int))


def test_vertical_dataset_input_without_psi_requires_identical_ids() -> None:
    x = np.arange(12.0).reshape(6, 2)
    parties = {"g": PartyTable([1, 2, 3, 4, 5, 6], x), "h": PartyTable([1, 2, 3, 4, 5, 7], x)}
    dataset = VerticalDataset(parties, "g", np.array([0, 1, 0, 1, 0, 1]))
    with pytest.raises(DataError, match="differ"):
        HeteroLogisticRegression(key_bits=512, use_psi=False).fit(dataset)


def test_bad_inputs_are_refused_with_clear_errors() -> None:
    x = np.zeros((3, 2))
    with pytest.raises(DataError, match="IDs"):
        PartyTable([1, 2], x)
    with pytest.raises(ConfigError, match="label party"):
        VerticalDataset({"g": PartyTable([1, 2, 3], x), "h": PartyTable([1, 2, 3], x)}, "z")
    with pytest.raises(ConfigError, match="fit"):
        HeteroLogisticRegression().predict_proba({"g": ([1], x[:1])}, label_party="g")
    with pytest.raises(ConfigError, match="batch_size"):
        HeteroLogisticRegression(batch_size=0)
