"""Class weights in hetero LR: the weighted Taylor gradient is scikit-learn's weighted
logistic gradient where the expansion is exact, balanced weights find more of a rare
class, and settings that cannot apply are refused naming the option or party."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss as sk_log_loss

from rengo.core.errors import ConfigError, DataError
from rengo.data.class_weights import sample_weights
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.hetero_linear.config import HeteroLinearConfig
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.math import taylor_loss, taylor_residual


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 10_000), st.floats(0.1, 30.0), st.floats(0.1, 30.0))
def test_the_weighted_taylor_gradient_at_zero_is_scikit_learns_weighted_gradient(
    seed: int, w0: float, w1: float
) -> None:
    """At u = 0, where the protocol's Taylor loss matches the logistic loss to second order,
    X^T (s * d) / n is the slope of scikit-learn's weighted log loss (times sum(s) / n),
    and it differs from the unweighted one unless w0 = w1."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(25, 3)), np.r_[0, 1, rng.integers(0, 2, 23)].astype(float)
    s = sample_weights(y, {0: w0, 1: w1}, "guest")
    assert s is not None
    ours = x.T @ (s * taylor_residual(np.zeros(len(y)), y)) / len(y)
    step = 1e-6
    reference = np.empty(3)
    for j in range(3):
        w = np.zeros(3)
        w[j] = step
        up = sk_log_loss(y, 1 / (1 + np.exp(-x @ w)), sample_weight=s, labels=[0, 1])
        down = sk_log_loss(y, 1 / (1 + np.exp(x @ w)), sample_weight=s, labels=[0, 1])
        reference[j] = (up - down) / (2 * step) * s.sum() / len(y)
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    # and the weighted residual is the slope of the weighted Taylor loss anywhere
    u = rng.normal(size=len(y))
    for i in range(3):
        moved = u.copy()
        moved[i] += step
        slope = (np.sum(s * _row_taylor(moved, y)) - np.sum(s * _row_taylor(u, y))) / step
        assert slope == pytest.approx(s[i] * taylor_residual(u, y)[i], abs=1e-4)


def _row_taylor(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([taylor_loss(u[i : i + 1], y[i : i + 1]) for i in range(len(u))])


def rare_parties(
    rows: int, seed: int
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    logit = x @ np.array([1.5, -1.0, 0.8, 0.5]) - 4.0
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    ids = np.array([f"acct{i:05d}" for i in range(rows)])
    return {"bank": (ids, x[:, :2]), "shop": (ids, x[:, 2:])}, y


def test_balanced_weights_find_more_of_a_rare_class() -> None:
    data, y = rare_parties(400, seed=0)
    assert 0.02 < y.mean() < 0.12
    recall = {}
    for name, weight in (("plain", None), ("balanced", "balanced")):
        model = HeteroLogisticRegression(
            key_bits=512, epochs=12, batch_size=200, seed=0, use_psi=False, class_weight=weight
        )
        model.fit(data, "bank", y)
        _, p = model.predict_proba(data)
        flagged = np.asarray(p)[:, 1] >= 0.5
        recall[name] = float(flagged[y == 1].mean())
    assert recall["balanced"] > recall["plain"] + 0.3


def test_a_weighted_class_the_labels_lack_is_refused_naming_the_party() -> None:
    data, y = rare_parties(60, seed=1)
    model = HeteroLogisticRegression(
        key_bits=512, epochs=1, seed=0, use_psi=False, class_weight={0: 1, 2: 4}
    )
    with pytest.raises(DataError, match=r"bank: class_weight names class 2.*0\.\.1"):
        model.fit(data, "bank", y)


def test_class_weights_on_a_regression_or_with_newton_are_refused() -> None:
    with pytest.raises(ConfigError, match="a hetero linear regression has none"):
        HeteroLinearConfig(class_weight="balanced")
    with pytest.raises(ConfigError, match="not trained by optimizer='newton'"):
        HeteroLRConfig(class_weight="balanced", optimizer="newton")
    assert HeteroLRConfig(class_weight={1: 20}).class_weight == "1:20.0"
