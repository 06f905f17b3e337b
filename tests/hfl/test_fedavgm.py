"""FedAvgM (Hsu et al. 2019): server momentum over FedAvg's pseudo-gradient, written out by
hand for three rounds, and the settings under which it is FedAvg."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.messages import FitResult
from rengo.hfl import FedAvg, FedAvgM, Strategy

X0 = [np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([1.0, -0.25, 0.0])]
OFFSETS = [  # per round, two clients' models are the round's global model plus these
    ([np.array([[1.0, 0.0], [-1.0, 0.5]]), np.array([0.0, 1.0, 0.5])], 1),
    ([np.array([[0.0, 2.0], [1.0, -0.5]]), np.array([2.0, 0.0, -1.0])], 3),
]


def _round(strategy: Strategy, server_round: int, x: list[np.ndarray]) -> list[np.ndarray]:
    acc = strategy.accumulator(server_round, x)
    for i, (offset, n) in enumerate(OFFSETS):
        model = [p + server_round * o for p, o in zip(x, offset, strict=True)]
        strategy.add_result(acc, str(i), FitResult(model, n))
    new = strategy.aggregate_fit(server_round, x, acc)
    assert isinstance(new, list)
    return new


def _expected(eta: float, beta: float, rounds: int) -> list[np.ndarray]:
    """x_{t+1} = x_t - eta m_t, m_t = beta m_{t-1} + (x_t - mean_t), m_0 = 0."""
    x = [p.copy() for p in X0]
    m = [np.zeros_like(p) for p in X0]
    for t in range(1, rounds + 1):
        (a, na), (b, nb) = OFFSETS
        # the clients' mean minus x: the example-weighted mean of the round's offsets
        step = [t * (na * p + nb * q) / (na + nb) for p, q in zip(a, b, strict=True)]
        m = [beta * mi - s for mi, s in zip(m, step, strict=True)]
        x = [xi - eta * mi for xi, mi in zip(x, m, strict=True)]
    return x


def test_fedavgm_steps_along_the_momentum_of_fedavgs_pseudo_gradient() -> None:
    strategy = FedAvgM(server_learning_rate=0.7, server_momentum=0.9)
    strategy.initialize(X0)
    x = X0
    for t in (1, 2, 3):
        x = _round(strategy, t, x)
    for got, want in zip(x, _expected(0.7, 0.9, 3), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_fedavgm_without_momentum_at_rate_one_is_fedavg() -> None:
    momentumless, plain = FedAvgM(server_momentum=0.0), FedAvg()
    momentumless.initialize(X0)
    plain.initialize(X0)
    x, y = X0, X0
    for t in (1, 2):
        x, y = _round(momentumless, t, x), _round(plain, t, y)
        for a, b in zip(x, y, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-15)


def test_fedavgm_keeps_the_model_dtype() -> None:
    x0 = [np.zeros((2, 2), np.float32), np.zeros(3, np.float32)]
    strategy = FedAvgM()
    strategy.initialize(x0)
    assert [a.dtype for a in _round(strategy, 1, x0)] == [np.float32, np.float32]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"server_learning_rate": 0.0}, "server_learning_rate must be > 0"),
        ({"server_momentum": 1.0}, r"server_momentum must be in \[0, 1\)"),
        ({"server_momentum": -0.1}, r"server_momentum must be in \[0, 1\)"),
    ],
)
def test_fedavgm_refuses_settings_outside_its_range(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FedAvgM(**options)
