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
    with pytest.raises(ValueError, match="needs at least 4 updates"):
        krum_scores(u[:3], 1)
    # f = 1 among five: 2 nearest neighbours; scores 9, 4, 5, 24746 and 3 for the last row
    five = [*UPDATES, [2.0, 3.0, 5.0]]
    chosen = _aggregate(Krum(num_byzantine=1, num_selected=2), five)
    np.testing.assert_allclose(chosen, [2.0, 3.0, 4.5])  # the mean of rows 5 and 2


def test_krum_refuses_what_its_guarantee_does_not_cover():
    """Krum(f=1) took four updates (its guarantee needs more than 2f + 2 = 4): with two
    colluding attackers among five, f = 2 picked the attackers' update; Multi-Krum asked to
    keep more than n - f kept attackers too (it became the plain mean)."""
    assert Krum(num_byzantine=2).min_fit_clients == 7
    with pytest.raises(ValueError, match="only among more than 4 updates"):
        _aggregate(Krum(num_byzantine=1, num_selected=2), UPDATES)
    with pytest.raises(ValueError, match="keeps at most n - f = 4 of 5"):
        _aggregate(Krum(num_byzantine=1, num_selected=5), [*UPDATES, [2.0, 3.0, 5.0]])


def test_krum_compares_updates_not_models():
    """Distances of full models lost tiny updates to rounding (|a|^2 + |b|^2 - 2 a.b on
    weights of ~10 and updates of ~1e-7): Krum picked by noise."""
    rng = np.random.default_rng(0)
    weights = rng.normal(scale=10.0, size=3)
    steps = [np.array([1.0, 0.0, 0.0]) * 1e-7 * k for k in (1.0, 1.1, 1.2, 5.0, 9.0)]
    params = [weights[:2].copy(), weights[2:].copy()]
    rule = Krum(num_byzantine=1)
    acc = rule.accumulator(1, params)
    for i, step in enumerate(steps):
        model = weights + step
        rule.add_result(acc, str(i), FitResult([model[:2], model[2:]], 1))
    chosen = np.concatenate(rule.aggregate_fit(1, params, acc)) - weights
    np.testing.assert_allclose(chosen, steps[1], rtol=1e-6, atol=1e-15)  # the central one


def test_krum_scores_do_not_move_with_the_origin():
    """krum_scores of whole models (as a caller outside the strategies passes them) took
    the Gram form on the models: rows 1e7 from the origin lost their 1e-2 differences and
    the scores came out as rounding noise; they are now computed from the rows' mean."""
    rng = np.random.default_rng(3)
    steps = rng.normal(scale=1e-2, size=(7, 50))
    offset = rng.normal(scale=1e7, size=50)
    near, far = krum_scores(steps, 2), krum_scores(steps + offset, 2)
    np.testing.assert_allclose(far, near, rtol=1e-6)
    assert np.argmin(far) == np.argmin(near)


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
