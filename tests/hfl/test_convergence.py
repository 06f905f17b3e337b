"""On a strongly convex problem FedAvg must reach the centralised optimum.

Problem: L2-regularised softmax regression on the standardised breast-cancer data (569 x 30),
split IID into five clients of unequal size. The optimum comes from scikit-learn's binary
LogisticRegression: a 2-class softmax with weights ``[-w/2, w/2]`` has penalty
``(l2/2)||W||^2 = (l2/4)||w||^2``, and sklearn minimises ``C sum(loss) + ||w||^2 / 2``, so the
objectives match for ``C = 2 / (n l2)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init, softmax_loss_grad

L2 = 0.05


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[np.ndarray, np.ndarray, float]:
    datasets = pytest.importorskip("sklearn.datasets")
    linear_model = pytest.importorskip("sklearn.linear_model")
    X, y = datasets.load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    n = len(y)
    model = linear_model.LogisticRegression(C=2 / (n * L2), tol=1e-12, max_iter=10_000)
    model.fit(X, y)
    w, b = model.coef_[0], model.intercept_[0]
    optimum = [np.stack([-w / 2, w / 2], axis=1), np.array([-b / 2, b / 2])]
    loss, grads = softmax_loss_grad(optimum, X, y, L2)
    assert max(float(np.abs(g).max()) for g in grads) < 1e-7, "reference did not converge"
    return X, y, loss


def _fedavg_loss(data: tuple[np.ndarray, np.ndarray, float], lr: float, epochs: int, rounds: int):
    X, y, _ = data
    parts = np.split(np.random.default_rng(0).permutation(len(y)), [60, 200, 330, 480])

    def client_fn(cid: str) -> LogisticRegressionClient:
        idx = parts[int(cid)]
        return LogisticRegressionClient(
            X[idx], y[idx], lr=lr, local_epochs=epochs, batch_size=None, l2=L2
        )

    history = simulate(client_fn, 5, FedAvg(min_fit_clients=5), softmax_init(30, 2), rounds)
    return softmax_loss_grad(history.parameters, X, y, L2)[0]


def test_fedavg_reaches_centralised_optimum(breast_cancer) -> None:
    """One full-batch local step per round makes example-weighted FedAvg exactly centralised
    gradient descent: relative loss gap < 1e-5 after 200 rounds (measured ~1e-8)."""
    optimum = breast_cancer[2]
    loss = _fedavg_loss(breast_cancer, lr=0.5, epochs=1, rounds=200)
    assert -1e-9 <= (loss - optimum) / optimum < 1e-5


def test_fedavg_with_local_epochs_stays_near_centralised_optimum(breast_cancer) -> None:
    """Five full-batch local epochs on IID data: client drift leaves a relative loss gap
    < 1e-3 (measured ~1e-4)."""
    optimum = breast_cancer[2]
    loss = _fedavg_loss(breast_cancer, lr=0.2, epochs=5, rounds=100)
    assert -1e-9 <= (loss - optimum) / optimum < 1e-3
