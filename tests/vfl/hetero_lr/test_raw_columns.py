"""Columns on their own scales (amounts in the thousands beside 0/1 flags) train as well as
z-scored ones: first-order steps move each party's weights in units of its own column's
root mean square, so a raw-scale table reaches scikit-learn's held-out quality on the same
split, where a step of ``learning_rate`` per weight moved scores by thousands."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from rengo.data import load_credit_default
from rengo.metrics import poisson_deviance, roc_auc
from rengo.vfl import HeteroLogisticRegression, HeteroPoissonRegression
from rengo.vfl.hetero_lr.math import column_scales

L2 = 0.01


def _parties(x: np.ndarray, ids: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    half = x.shape[1] // 2
    return {"guest": (ids, x[:, :half]), "host": (ids, x[:, half:])}


def test_column_scales_are_root_mean_squares_and_one_for_empty_columns() -> None:
    x = np.array([[3.0, 0.0, -1.0], [4.0, 0.0, 1.0]])
    assert np.allclose(column_scales(x), [np.sqrt(12.5), 1.0, 1.0])


def test_minibatch_lr_on_raw_credit_columns_is_within_two_points_of_sklearn_auc() -> None:
    """The credit table as it ships: limits and bills in the hundreds of thousands beside
    repayment codes; 700 rows in batches of 256 (Adam). Before steps were scaled, AUC 0.45."""
    credit = load_credit_default()
    x, y = np.asarray(credit.X, dtype=float)[:1000], credit.labels().astype(float)[:1000]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    train_ids, test_ids = np.arange(len(y_train)), np.arange(len(y_test)) + 10_000
    model = HeteroLogisticRegression(
        key_bits=512, key_seed=1, seed=0, l2=L2, batch_size=256, use_psi=False
    )
    model.fit(_parties(x_train, train_ids), label_party="guest", y=y_train)
    _, proba = model.predict_scores(_parties(x_test, test_ids))
    scaler = StandardScaler().fit(x_train)
    central = LogisticRegression(C=1.0 / (len(y_train) * L2), max_iter=10_000)
    central.fit(scaler.transform(x_train), y_train)
    anchor = roc_auc(y_test, central.decision_function(scaler.transform(x_test)))
    assert roc_auc(y_test, proba) > anchor - 0.02, (roc_auc(y_test, proba), anchor)


def test_poisson_on_raw_columns_is_within_five_percent_of_sklearn_deviance() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 4))
    y = rng.poisson(np.exp(0.5 + z @ np.array([0.3, -0.2, 0.25, -0.3]))).astype(float)
    x = z * np.array([1.0, 1.0, 1000.0, 50.0]) + np.array([0.0, 0.0, 1000.0, 50.0])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    train_ids, test_ids = np.arange(len(y_train)), np.arange(len(y_test)) + 10_000
    model = HeteroPoissonRegression(key_bits=512, key_seed=1, seed=0, use_psi=False)
    model.fit(_parties(x_train, train_ids), label_party="guest", y=y_train)
    _, predicted = model.predict(_parties(x_test, test_ids))
    scaler = StandardScaler().fit(x_train)
    central = PoissonRegressor(alpha=0.0, max_iter=1000).fit(scaler.transform(x_train), y_train)
    anchor = poisson_deviance(y_test, central.predict(scaler.transform(x_test)))
    assert poisson_deviance(y_test, predicted) < 1.05 * anchor, anchor
