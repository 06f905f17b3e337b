"""Hetero LR's probabilities are calibrated at any base rate: the Taylor loss expanded at
``u = 0`` puts the best constant model at ``4 * rate - 2`` (P = 0.12 for a 5% default
rate), so the label party ends training by moving its intercept to the expansion at the
base-rate logit, whose best constant model predicts the base rate itself."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from rengo.data import load_credit_default
from rengo.metrics import log_loss
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.local import train_guest_alone
from rengo.vfl.hetero_lr.math import base_rate_shift, sigmoid

L2 = 0.01


def _rare_defaults() -> tuple[np.ndarray, ...]:
    """The shipped credit sample cut to a 5% default rate: 950 payers, 50 defaulters."""
    credit = load_credit_default()
    x, y = np.asarray(credit.X, dtype=float), credit.labels().astype(float)
    keep = np.r_[np.flatnonzero(y == 0)[:950], np.flatnonzero(y == 1)[:50]]
    x, y = StandardScaler().fit_transform(x[keep]), y[keep]
    return tuple(train_test_split(x, y, test_size=0.3, random_state=0, stratify=y))


def _parties(x: np.ndarray, ids: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"guest": (ids, x[:, :11]), "host": (ids, x[:, 11:])}


@pytest.fixture(scope="module")
def fitted() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_train, x_test, y_train, y_test = _rare_defaults()
    model = HeteroLogisticRegression(key_bits=512, key_seed=1, seed=0, l2=L2, use_psi=False)
    model.fit(_parties(x_train, np.arange(len(y_train))), label_party="guest", y=y_train)
    _, proba = model.predict_scores(_parties(x_test, np.arange(len(y_test)) + 10_000))
    central = LogisticRegression(C=1.0 / (len(y_train) * L2), max_iter=10_000)
    central.fit(x_train, y_train)
    return y_train, y_test, proba, central.predict_proba(x_test)[:, 1]


def test_mean_predicted_probability_is_the_base_rate_at_a_five_percent_default_rate(
    fitted: tuple[np.ndarray, ...],
) -> None:
    y_train, _, proba, anchor = fitted
    base = float(np.mean(y_train))
    assert abs(float(np.mean(proba)) - base) < 0.2 * base, (np.mean(proba), base)
    assert abs(float(np.mean(proba)) - float(np.mean(anchor))) < 0.2 * base


def test_held_out_log_loss_is_within_ten_percent_of_sklearn_at_a_five_percent_rate(
    fitted: tuple[np.ndarray, ...],
) -> None:
    _, y_test, proba, anchor = fitted
    assert log_loss(y_test, proba) < 1.1 * log_loss(y_test, anchor)


@pytest.mark.parametrize("rate", [0.02, 0.05, 0.3, 0.5, 0.9])
def test_a_model_without_signal_predicts_exactly_the_base_rate(rate: float) -> None:
    rows = 200
    y = (np.arange(rows) < round(rate * rows)).astype(float)
    model = train_guest_alone(np.zeros((rows, 2)), y, HeteroLRConfig(l2=L2), seed=0)
    assert sigmoid(np.array([model.intercept]))[0] == pytest.approx(rate, abs=1e-9)


def test_the_shift_vanishes_at_balanced_labels_where_both_expansions_coincide() -> None:
    assert base_rate_shift(np.array([0.0, 1.0, 1.0, 0.0])) == 0.0
