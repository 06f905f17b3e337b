"""FedAdagrad, FedAdam and FedYogi against Reddi et al. 2021 ("Adaptive Federated
Optimization", Algorithm 2), written out by hand with numpy for one and two server steps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rengo.core.messages import FitResult
from rengo.hfl import FedAdagrad, FedAdam, FedOpt, FedYogi

ETA, BETA_1, BETA_2, TAU = 0.5, 0.8, 0.9, 0.01
# Expected values are computed in a different operation order: equal to ~1 ulp (rtol 1e-13).

X0 = [np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([1.0, -0.25, 0.0])]
# Two client models per round; with 1 and 3 examples their mean is (a + 3 b) / 4.
ROUND_1 = [
    ([np.array([[1.0, -1.0], [1.0, 0.5]]), np.array([0.0, 0.0, 0.5])], 1),
    ([np.array([[0.5, 0.0], [3.0, -0.5]]), np.array([2.0, 0.75, 0.0])], 3),
]
ROUND_2 = [
    ([np.array([[0.0, 1.0], [2.0, 2.0]]), np.array([1.0, 1.0, 1.0])], 1),
    ([np.array([[2.0, -2.0], [0.0, 1.0]]), np.array([-1.0, 0.5, 0.0])], 3),
]


def _mean(round_results: list[tuple[list[np.ndarray], int]]) -> list[np.ndarray]:
    (a, na), (b, nb) = round_results
    return [(na * p + nb * q) / (na + nb) for p, q in zip(a, b, strict=True)]


def _adagrad_v(v: np.ndarray, d: np.ndarray) -> np.ndarray:
    return v + d * d


def _adam_v(v: np.ndarray, d: np.ndarray) -> np.ndarray:
    return BETA_2 * v + (1 - BETA_2) * d * d


def _yogi_v(v: np.ndarray, d: np.ndarray) -> np.ndarray:
    return v - (1 - BETA_2) * d * d * np.sign(v - d * d)


def _expected(
    second_moment: Callable[[np.ndarray, np.ndarray], np.ndarray], rounds: int
) -> list[list[np.ndarray]]:
    """The server iterates x_1.. x_rounds of Algorithm 2 with v_{-1} = tau^2, m_{-1} = 0."""
    x = [p.copy() for p in X0]
    m = [np.zeros_like(p) for p in X0]
    v = [np.full_like(p, TAU**2) for p in X0]
    out = []
    for results in (ROUND_1, ROUND_2)[:rounds]:
        avg = _mean(results)
        new_x = []
        for i in range(len(x)):
            delta = avg[i] - x[i]
            m[i] = BETA_1 * m[i] + (1 - BETA_1) * delta
            v[i] = second_moment(v[i], delta)
            new_x.append(x[i] + ETA * m[i] / (np.sqrt(v[i]) + TAU))
        x = new_x
        out.append(x)
    return out


def _server_step(strategy: FedOpt, server_round: int, x: list[np.ndarray]) -> list[np.ndarray]:
    acc = strategy.accumulator(server_round, x)
    for i, (params, n) in enumerate((ROUND_1, ROUND_2)[server_round - 1]):
        strategy.add_result(acc, str(i), FitResult(params, n))
    return strategy.aggregate_fit(server_round, x, acc)


CASES = [(FedAdagrad, _adagrad_v), (FedAdam, _adam_v), (FedYogi, _yogi_v)]


@pytest.mark.parametrize(("cls", "second_moment"), CASES)
def test_fedopt_one_step_matches_reddi_algorithm_2(cls, second_moment) -> None:
    strategy = cls(eta=ETA, beta_1=BETA_1, beta_2=BETA_2, tau=TAU)
    strategy.initialize(X0)
    x1 = _server_step(strategy, 1, X0)
    for got, want in zip(x1, _expected(second_moment, 1)[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("cls", "second_moment"), CASES)
def test_fedopt_two_steps_match_reddi_algorithm_2(cls, second_moment) -> None:
    strategy = cls(eta=ETA, beta_1=BETA_1, beta_2=BETA_2, tau=TAU)
    strategy.initialize(X0)
    x2 = _server_step(strategy, 2, _server_step(strategy, 1, X0))
    for got, want in zip(x2, _expected(second_moment, 2)[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_the_three_second_moments_give_different_models() -> None:
    finals = [_expected(v, 2)[1][0] for _, v in CASES]
    assert not np.array_equal(finals[0], finals[1])
    assert not np.array_equal(finals[1], finals[2])


def test_fedopt_without_initialize_initialises_its_state_with_a_deprecation_warning() -> None:
    strategy = FedAdam(eta=ETA, beta_1=BETA_1, beta_2=BETA_2, tau=TAU)
    with pytest.warns(DeprecationWarning, match="call initialize"):
        x1 = _server_step(strategy, 1, X0)
    for got, want in zip(x1, _expected(_adam_v, 1)[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
