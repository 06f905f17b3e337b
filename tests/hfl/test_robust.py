"""Robust aggregators: exact math on known updates, and resistance to a poisoning client."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core import FitResult
from rengo.hfl import (
    FedAvg,
    FedMedian,
    FedTrimmedAvg,
    Krum,
    LogisticRegressionClient,
    simulate,
    softmax_init,
)
from rengo.hfl.strategy import krum_scores, trimmed_mean


def _aggregate(strategy, updates):
    params = [np.zeros(2), np.zeros(1)]
    acc = strategy.accumulator(1, params)
    for i, u in enumerate(updates):
        strategy.add_result(acc, str(i), FitResult([np.array(u[:2]), np.array(u[2:])], 1))
    return np.concatenate(strategy.aggregate_fit(1, params, acc))


UPDATES = [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0], [100.0, -50.0, 7.0]]


def test_fedmedian_is_the_coordinatewise_median():
    np.testing.assert_allclose(_aggregate(FedMedian(), UPDATES), [2.5, 2.5, 4.5])


def test_trimmed_mean_drops_extremes_per_coordinate():
    np.testing.assert_allclose(_aggregate(FedTrimmedAvg(beta=0.25), UPDATES), [2.5, 2.5, 4.5])
    m = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    assert trimmed_mean(m, 0.2)[0] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        FedTrimmedAvg(beta=0.5)


def test_krum_scores_match_hand_computation():
    u = np.array([[0.0], [1.0], [3.0], [10.0]])
    # f=1 -> n - f - 2 = 1 nearest neighbour: squared distances 1, 1, 4, 49
    np.testing.assert_allclose(krum_scores(u, 1), [1.0, 1.0, 4.0, 49.0])
    chosen = _aggregate(Krum(num_byzantine=1, num_selected=2), UPDATES)
    np.testing.assert_allclose(chosen, [1.5, 2.5, 3.5])
    with pytest.raises(ValueError, match="needs more than"):
        krum_scores(u[:3], 1)


@pytest.mark.parametrize("strategy", [FedMedian(), FedTrimmedAvg(beta=0.2), Krum(1, 3)])
def test_robust_rules_resist_a_poisoning_client_where_fedavg_does_not(strategy):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0, 1.0]) > 0).astype(int)
    parts = np.array_split(np.arange(300), 5)

    class Poisoner(LogisticRegressionClient):
        def fit(self, parameters, config):
            result = super().fit(parameters, config)
            noise = np.random.default_rng(int(config["seed"]))
            poisoned = [noise.normal(scale=100.0, size=p.shape) for p in result.parameters]
            return FitResult(poisoned, result.num_examples)

    def client_fn(cid):
        cls = Poisoner if cid == "4" else LogisticRegressionClient
        idx = parts[int(cid)]
        return cls(X[idx], y[idx], lr=0.5, batch_size=None)

    def accuracy(strategy):
        h = simulate(client_fn, 5, strategy, softmax_init(5, 2), 10, seed=1)
        w, b = h.parameters
        return float(np.mean(np.argmax(X @ w + b, axis=1) == y))

    assert accuracy(strategy) > 0.9
    assert accuracy(FedAvg()) < 0.85  # the noise dominates the plain mean
