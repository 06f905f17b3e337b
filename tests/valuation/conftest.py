"""A tiny numpy-only logistic-regression FL run whose stored rounds feed the contribution
tests: honest clients of different sizes, optionally a free-rider and a noise sender."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rengo.core.parameters import Parameters
from rengo.valuation import RoundUpdates

DIM = 6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def make_data(
    rng: np.random.Generator, n: int, true_w: np.ndarray, flip: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features, labels from a logistic model, a fraction ``flip`` of labels flipped."""
    x = rng.normal(size=(n, DIM))
    y = (rng.random(n) < _sigmoid(x @ true_w)).astype(np.float64)
    flipped = rng.random(n) < flip
    y[flipped] = 1.0 - y[flipped]
    return x, y


def local_train(
    params: Parameters, x: np.ndarray, y: np.ndarray, epochs: int = 5, lr: float = 0.3
) -> Parameters:
    """A few full-batch gradient steps on the logistic loss from the global model: an
    under-trained regime, where diluting the average with a copy of w_t can only slow
    progress (with overshooting local steps, damping by a free-rider could help)."""
    w, b = params[0].copy(), params[1].copy()
    for _ in range(epochs):
        p = _sigmoid(x @ w + b[0])
        w -= lr * x.T @ (p - y) / len(y)
        b -= lr * np.array([np.mean(p - y)])
    return [w, b]


def make_evaluate(x_val: np.ndarray, y_val: np.ndarray) -> Callable[[Parameters], float]:
    """Validation score: minus the mean log loss (higher is better)."""

    def evaluate(params: Parameters) -> float:
        p = np.clip(_sigmoid(x_val @ params[0] + params[1][0]), 1e-9, 1 - 1e-9)
        return float(np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p)))

    return evaluate


ClientSpec = tuple[str, str, int, float]
"""(client id, behaviour 'honest' | 'copy' | 'noise', examples, label flip rate)."""


def run_fl(
    specs: list[ClientSpec], rounds: int, seed: int
) -> tuple[list[RoundUpdates], Callable[[Parameters], float]]:
    """Run FedAvg over ``specs`` and keep every round's updates for contribution scoring."""
    rng = np.random.default_rng(seed)
    true_w = rng.normal(size=DIM) * 1.5
    data = {cid: make_data(rng, max(n, 1), true_w, flip) for cid, _, n, flip in specs}
    evaluate = make_evaluate(*make_data(rng, 2000, true_w))
    global_params: Parameters = [np.zeros(DIM), np.zeros(1)]
    stored: list[RoundUpdates] = []
    for t in range(rounds):
        updates: list[Parameters] = []
        for cid, behaviour, _, _ in specs:
            if behaviour == "honest":
                updates.append(local_train(global_params, *data[cid]))
            elif behaviour == "copy":
                updates.append([p.copy() for p in global_params])
            else:
                updates.append([p + rng.normal(scale=3.0, size=p.shape) for p in global_params])
        weights = tuple(float(n) for _, _, n, _ in specs)
        stored.append(
            RoundUpdates(t, global_params, tuple(s[0] for s in specs), tuple(updates), weights)
        )
        total = sum(weights)
        global_params = [
            sum(w / total * u[k] for u, w in zip(updates, weights, strict=True)) for k in range(2)
        ]
    return stored, evaluate


@pytest.fixture(scope="session")
def eight_client_run() -> tuple[list[RoundUpdates], Callable[[Parameters], float]]:
    """Eight clients: four sizes (20 to 160 examples), each once clean and once with 40 %
    of its labels flipped; three rounds."""
    specs: list[ClientSpec] = []
    for k, n in enumerate((20, 40, 80, 160)):
        specs.append((f"c{2 * k}", "honest", n, 0.0))
        specs.append((f"c{2 * k + 1}", "honest", n, 0.4))
    return run_fl(specs, rounds=3, seed=7)
