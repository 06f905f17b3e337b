"""Class weights in the numpy logistic client: its weighted loss is scikit-learn's weighted
log loss, its weighted gradient vanishes at LogisticRegression(class_weight=...)'s optimum,
balanced weights raise a rare class's recall, and balanced counts each client's own rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss as sk_log_loss

from rengo.core.errors import DataError
from rengo.data.class_weights import sample_weights
from rengo.hfl import LogisticRegressionClient
from rengo.hfl.numpy_client import softmax_loss_grad, softmax_probabilities


def rare_table(rows: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    logit = x @ np.array([1.5, -1.0, 0.5]) + np.log(rate / (1 - rate))
    return x, (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)


@settings(deadline=None, max_examples=40)
@given(
    st.integers(0, 10_000),
    st.floats(0.1, 20.0),
    st.floats(0.1, 20.0),
    st.floats(0.0, 1.0),
)
def test_the_weighted_loss_is_scikit_learns_weighted_log_loss_and_the_gradient_its_slope(
    seed: int, w0: float, w1: float, l2: float
) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(30, 3)), np.r_[0, 1, rng.integers(0, 2, 28)]
    params = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    s = sample_weights(y, {0: w0, 1: w1}, "client 0")
    assert s is not None
    loss, grads = softmax_loss_grad(params, x, y, l2, s)
    p = softmax_probabilities(params, x)
    reference = sk_log_loss(y, p, sample_weight=s, labels=[0, 1]) * s.sum() / len(y)
    assert loss == pytest.approx(reference + 0.5 * l2 * np.sum(params[0] ** 2), rel=1e-9)
    step = 1e-6  # the gradient is the slope of that loss, weight by weight
    for which in range(2):
        for index in np.ndindex(params[which].shape):
            moved = [p.copy() for p in params]
            moved[which][index] += step
            up, _ = softmax_loss_grad(moved, x, y, l2, s)
            moved[which][index] -= 2 * step
            down, _ = softmax_loss_grad(moved, x, y, l2, s)
            assert grads[which][index] == pytest.approx((up - down) / (2 * step), abs=1e-6)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 7.5}])
def test_the_weighted_gradient_vanishes_at_scikit_learns_weighted_optimum(
    class_weight: object,
) -> None:
    x, y = rare_table(300, 0.1, seed=1)
    y3 = np.where(x[:, 2] > 1.2, 2, y)  # three classes: scikit-learn fits a softmax
    weights = class_weight if class_weight == "balanced" else {**class_weight, 2: 2.0}  # type: ignore[dict-item]
    l2 = 0.01
    fitted = LogisticRegression(
        C=1 / (len(y3) * l2), class_weight=weights, tol=1e-12, max_iter=10_000
    ).fit(x, y3)
    params = [fitted.coef_.T.copy(), fitted.intercept_.copy()]
    # scikit-learn's intercept is unpenalised, ours too; its W is (classes x features)
    s = sample_weights(y3, weights, "client 0", 3)
    _, grads = softmax_loss_grad(params, x, y3, l2, s)
    assert np.abs(grads[0]).max() < 1e-6 and np.abs(grads[1]).max() < 1e-6
    _, unweighted = softmax_loss_grad(params, x, y3, l2)
    assert np.abs(unweighted[1]).max() > 1e-3  # the weights changed the optimum


def test_balanced_weights_raise_the_recall_of_a_rare_class() -> None:
    x, y = rare_table(2000, 0.03, seed=2)
    init = [np.zeros((3, 2)), np.zeros(2)]

    def trained(class_weight: object) -> np.ndarray:
        client = LogisticRegressionClient(
            x, y, lr=0.5, local_epochs=30, batch_size=None, class_weight=class_weight
        )
        return np.asarray(client.fit(init, {}).parameters, dtype=object)

    recall = {}
    for name, weight in (("plain", None), ("balanced", "balanced")):
        params = list(trained(weight))
        flagged = softmax_probabilities(params, x)[:, 1] >= 0.5
        recall[name] = float(flagged[y == 1].mean())
    assert recall["balanced"] > recall["plain"] + 0.3


def test_balanced_counts_the_clients_own_rows() -> None:
    x, y = rare_table(400, 0.05, seed=3)
    client = LogisticRegressionClient(x, y, class_weight="balanced", name="client 4")
    assert client.row_weights is not None
    rate = y.mean()
    assert client.row_weights[y == 1][0] == pytest.approx(1 / (2 * rate))
    assert client.row_weights[y == 0][0] == pytest.approx(1 / (2 * (1 - rate)))


def test_a_client_with_one_class_is_refused_balanced_weights_by_name() -> None:
    x = np.zeros((5, 3))
    with pytest.raises(DataError, match="client 4: class_weight='balanced' needs rows of"):
        LogisticRegressionClient(
            x, np.zeros(5, dtype=int), class_weight="balanced", name="client 4"
        )


def test_a_weight_for_a_class_the_model_lacks_is_refused() -> None:
    x, y = rare_table(50, 0.3, seed=4)
    with pytest.raises(DataError, match=r"client 1: class_weight names class 3.*0\.\.1"):
        LogisticRegressionClient(x, y, class_weight={3: 2.0}, num_classes=2, name="client 1")
