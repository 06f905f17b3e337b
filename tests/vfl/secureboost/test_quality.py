"""SecureBoost's models are as good as scikit-learn's HistGradientBoosting with the same
settings, handle empty cells, stop early, and rank columns by gain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from rengo.core.errors import DataError
from rengo.data import shared_data_dir
from rengo.metrics import roc_auc
from rengo.vfl.secureboost import HeteroSecureBoost

SETTINGS: dict[str, Any] = {"n_trees": 5, "max_depth": 3, "learning_rate": 0.3, "max_bin": 32}


def credit_or_breast_cancer() -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """``(name, guest columns, host columns, labels)``: 6,000 rows of FATE's default_credit
    split (guest 13 + host 10 columns) when the shared data is here, else breast cancer."""
    try:
        folder = shared_data_dir("fate")
        guest = np.loadtxt(folder / "default_credit_hetero_guest.csv", delimiter=",", skiprows=1)
        host = np.loadtxt(folder / "default_credit_hetero_host.csv", delimiter=",", skiprows=1)
    except (DataError, OSError):
        x, y = load_breast_cancer(return_X_y=True)
        return "breast cancer", x[:, :15], x[:, 15:], y.astype(float)
    rows = np.sort(np.random.default_rng(0).choice(len(guest), 6000, replace=False))
    return "default_credit", guest[rows, 2:], host[rows, 1:], guest[rows, 1]


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    name, x_guest, x_host, y = credit_or_breast_cancer()
    ids = np.array([f"c{i:05d}" for i in range(len(y))])
    model = HeteroSecureBoost(key_bits=512, seed=3, key_seed=4, **SETTINGS)
    model.fit({"guest": (ids, x_guest), "host": (ids, x_host)}, "guest", y)
    scored, proba = model.predict_raw({"guest": (ids, x_guest), "host": (ids, x_host)})
    return {"name": name, "x": np.hstack([x_guest, x_host]), "y": y, "ids": ids,
            "model": model, "scored": scored, "proba": proba}  # fmt: skip


def test_auc_within_half_a_point_of_sklearn_hist_gradient_boosting(fitted: dict[str, Any]) -> None:
    reference = HistGradientBoostingClassifier(
        max_iter=SETTINGS["n_trees"],
        max_depth=SETTINGS["max_depth"],
        learning_rate=SETTINGS["learning_rate"],
        max_bins=SETTINGS["max_bin"],
        l2_regularization=1.0,
        min_samples_leaf=1,
        max_leaf_nodes=None,
        early_stopping=False,
    ).fit(fitted["x"], fitted["y"])
    theirs = roc_auc(fitted["y"], reference.predict_proba(fitted["x"])[:, 1])
    np.testing.assert_array_equal(fitted["scored"], fitted["ids"])
    ours = roc_auc(fitted["y"], fitted["proba"])
    assert abs(ours - theirs) < 0.005, (fitted["name"], ours, theirs)
    assert ours > 0.75


def test_scoring_the_training_rows_gives_the_scores_training_ended_with(
    fitted: dict[str, Any],
) -> None:
    model: HeteroSecureBoost = fitted["model"]
    p = np.clip(fitted["proba"], 1e-15, 1 - 1e-15)
    y = fitted["y"]
    log_loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert log_loss == pytest.approx(model.train_losses_[-1], rel=1e-12)
    assert model.train_losses_ == sorted(model.train_losses_, reverse=True)


def test_feature_importance_names_host_columns_only_by_party_and_anonymous_id(
    fitted: dict[str, Any],
) -> None:
    model: HeteroSecureBoost = fitted["model"]
    importances = model.feature_importances_
    assert importances and all(i.splits >= 1 and i.gain > 0 for i in importances)
    gains = [i.gain for i in importances]
    assert gains == sorted(gains, reverse=True)
    host_labels = {i.label for i in importances if i.label.startswith("host")}
    assert host_labels and all(label.startswith("host#") for label in host_labels)
    ids = model.host_models_["host"].feature_ids
    assert sorted(ids) == list(range(len(ids)))  # a permutation only the host can undo
    splits = sum(i.splits for i in importances)
    inner = sum(1 for tree in model.guest_model_.trees for node in tree if not node.is_leaf)
    assert splits == inner


def test_feature_importance_names_the_label_partys_dataframe_columns_and_no_host_column() -> None:
    pd = pytest.importorskip("pandas")
    frame = load_breast_cancer(as_frame=True)
    x, y = frame.data, frame.target.to_numpy()
    ids = np.array([f"c{i:04d}" for i in range(len(y))])
    model = HeteroSecureBoost(key_bits=512, seed=0, key_seed=1, n_trees=3, max_depth=3)
    model.fit({"bank": (ids, x.iloc[:, 10:]), "card": (ids, x.iloc[:, :10])}, "card", y)
    labels = {i.label for i in model.feature_importances_}
    own = {label for label in labels if label.startswith("card:")}
    assert own and own <= {f"card:{name}" for name in x.columns[:10]}
    host = labels - own
    assert host and all(label.startswith("bank#") for label in host)
    assert not any(name in label for label in host for name in x.columns)
    assert isinstance(x, pd.DataFrame)


def test_tables_with_empty_cells_train_and_score_without_imputation() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(1)
    x = x.copy()
    x[rng.random(x.shape) < 0.15] = np.nan
    ids = np.array([f"p{i}" for i in range(len(y))])
    data = {"card": (ids, x[:, :12]), "bank": (ids, x[:, 12:])}
    model = HeteroSecureBoost(key_bits=512, n_trees=4, seed=1, key_seed=1).fit(data, "card", y)
    scored, proba = model.predict_raw(data)
    assert np.isfinite(proba).all()
    assert roc_auc(y[[int(i[1:]) for i in scored]], proba) > 0.95
    directions = {split.missing_left for split in model.host_models_["bank"].splits} | {
        n.missing_left for t in model.guest_model_.trees for n in t if n.owner == "card"
    }
    assert directions == {True, False}  # learned per split, not one fixed rule


def test_early_stopping_on_a_held_out_share_stops_when_the_loss_stops_improving() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"p{i}" for i in range(len(y))])
    data = {"card": (ids, x[:, :10]), "bank": (ids, x[:, 10:])}
    model = HeteroSecureBoost(
        key_bits=512, n_trees=40, learning_rate=1.0, max_depth=3, min_child_weight=0.0,
        l2=0.0, validation_fraction=0.3, n_iter_no_change=2, seed=2, key_seed=1,
    ).fit(data, "card", y)  # fmt: skip
    losses = model.validation_losses_
    assert 3 <= model.n_trees_ < 40
    assert len(losses) == model.n_trees_ == len(model.train_losses_)
    best = int(np.argmin(losses))
    assert best < len(losses) - 2 and all(v >= losses[best] for v in losses[-2:])
    assert model.guest_model_.best_round == best + 1


def test_regression_and_multiclass_predict_values_and_class_probabilities() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"p{i}" for i in range(len(y))])
    target = x[:, 0]
    features = np.delete(x, 0, axis=1)
    data = {"card": (ids, features[:, :10]), "bank": (ids, features[:, 10:])}
    regression = HeteroSecureBoost(
        objective="regression", key_bits=512, n_trees=5, seed=1, key_seed=1
    ).fit(data, "card", target)
    _, values = regression.predict(data)
    assert np.sqrt(np.mean((values - target) ** 2)) < 0.5 * target.std()
    classes = np.digitize(x[:, 20], np.quantile(x[:, 20], [0.33, 0.66]))  # three classes
    multiclass = HeteroSecureBoost(
        objective="multiclass", key_bits=512, n_trees=4, seed=1, key_seed=1
    ).fit({"card": (ids, x[:, 10:20]), "bank": (ids, x[:, 21:])}, "card", classes)
    _, proba = multiclass.predict_proba({"card": (ids, x[:, 10:20]), "bank": (ids, x[:, 21:])})
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(proba.argmax(axis=1) == classes) > 0.7


def test_the_best_round_is_where_the_held_out_loss_was_lowest() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"c{i:04d}" for i in range(len(y))])
    model = HeteroSecureBoost(
        key_bits=512, seed=0, key_seed=1, n_trees=40, learning_rate=0.5,
        validation_fraction=0.3, n_iter_no_change=3,
    )  # fmt: skip
    model.fit({"card": (ids, x[:, :10]), "bank": (ids, x[:, 10:])}, "card", y)
    losses = model.validation_losses_
    assert model.n_trees_ < 40 and len(losses) == model.n_trees_
    assert model.best_round_ == int(np.argmin(losses)) + 1 < model.n_trees_
