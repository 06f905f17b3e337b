"""SCAFFOLD (Karimireddy et al. 2020, Algorithm 1, option II): the server and client updates
on known arrays, and end to end on a pathologically non-IID (label-sharded) convex problem."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.messages import FitResult
from rengo.hfl import (
    FedAvg,
    LogisticRegressionClient,
    Scaffold,
    ScaffoldMod,
    simulate,
    softmax_init,
    softmax_loss_grad,
    with_mods,
)
from rengo.hfl.mods.scaffold import CONTROL_KEY, STATE_KEY


def test_scaffold_sends_the_server_control_variate_with_the_model() -> None:
    strategy = Scaffold(min_fit_clients=2)
    x = [np.ones((2, 2)), np.ones(2)]
    strategy.initialize(x)
    chosen = strategy.configure_fit(1, x, ["a", "b", "c"], np.random.default_rng(0))
    assert len(chosen) == 3
    for _, ins in chosen:
        assert [c.shape for c in ins.config[CONTROL_KEY]] == [(2, 2), (2,)]
        assert all(not np.any(c) for c in ins.config[CONTROL_KEY])


def test_scaffold_server_update_on_known_arrays() -> None:
    eta_g = 0.5
    strategy = Scaffold(fraction_fit=0.5, min_fit_clients=2, eta_g=eta_g)
    x = [np.array([1.0, 2.0, -1.0]), np.array([[0.5]])]
    strategy.initialize(x)
    c0 = [np.array([0.25, 0.0, -0.5], np.float32), np.array([[1.0]], np.float32)]
    strategy.load_state_dict({"c": c0, "num_clients": 0})
    chosen = strategy.configure_fit(1, x, ["a", "b", "c", "d"], np.random.default_rng(1))
    assert len(chosen) == 2  # |S| = 2 of N = 4

    y1 = [np.array([3.0, 2.0, 1.0]), np.array([[1.5]])]
    y2 = [np.array([1.0, 6.0, -3.0]), np.array([[-0.5]])]
    dc1 = [np.array([1.0, -2.0, 0.5], np.float32), np.array([[2.0]], np.float32)]
    dc2 = [np.array([3.0, 2.0, 0.5], np.float32), np.array([[0.0]], np.float32)]
    acc = strategy.accumulator(1, x)
    # Example counts must not matter: SCAFFOLD averages uniformly over the sampled clients.
    strategy.add_result(acc, chosen[0][0], FitResult([*y1, *dc1], 10))
    strategy.add_result(acc, chosen[1][0], FitResult([*y2, *dc2], 1000))
    new_x = strategy.aggregate_fit(1, x, acc)

    for i in range(2):
        expected_x = x[i] + eta_g * ((y1[i] - x[i]) + (y2[i] - x[i])) / 2
        np.testing.assert_array_equal(new_x[i], expected_x)
    np.testing.assert_array_equal(new_x[0], [1.5, 3.0, -1.0])
    np.testing.assert_array_equal(new_x[1], [[0.5]])
    c = strategy.state_dict()["c"]
    for i in range(2):
        expected_c = c0[i] + (2 / 4) * (dc1[i] + dc2[i]) / 2
        np.testing.assert_array_equal(c[i], expected_c)
        assert c[i].dtype == np.float32
    np.testing.assert_array_equal(c[0], [1.25, 0.0, -0.25])
    np.testing.assert_array_equal(c[1], [[1.5]])


def test_scaffold_client_option_ii_control_variate_update() -> None:
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(16, 3)), rng.integers(0, 2, size=16)
    x = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    c = [rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)]
    c_i = [rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)]
    lr, steps = 0.2, 4
    client = LogisticRegressionClient(X, y, lr=lr, local_epochs=steps, batch_size=None)
    client.state = {STATE_KEY: [a.copy() for a in c_i]}

    result = with_mods(client, [ScaffoldMod()]).fit(x, {CONTROL_KEY: c, "seed": 0})

    # Local steps corrected by c - c_i, then c_i+ = c_i - c + (x - y) / (K lr).
    params = [p.copy() for p in x]
    for _ in range(steps):
        _, grads = softmax_loss_grad(params, X, y, 0.0)
        params = [
            p - lr * (g + ci_s - cii) for p, g, ci_s, cii in zip(params, grads, c, c_i, strict=True)
        ]
    new_ci = [
        cii - cs + (xx - yy) / (steps * lr)
        for cii, cs, xx, yy in zip(c_i, c, x, params, strict=True)
    ]
    assert len(result.parameters) == 4
    model, delta = result.parameters[:2], result.parameters[2:]
    for got, want in zip(model, params, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    for got, stored, want, old in zip(delta, client.state[STATE_KEY], new_ci, c_i, strict=True):
        assert got.dtype == np.float32 and stored.dtype == np.float32
        np.testing.assert_allclose(got, want - old, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stored, want, rtol=1e-5, atol=1e-6)


def test_scaffold_client_starts_from_a_zero_control_variate() -> None:
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(8, 2)), rng.integers(0, 2, size=8)
    x = [np.zeros((2, 2)), np.zeros(2)]
    zero_c = [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]
    with_scaffold = LogisticRegressionClient(X, y, lr=0.1, local_epochs=3, batch_size=None)
    plain = LogisticRegressionClient(X, y, lr=0.1, local_epochs=3, batch_size=None)
    a = with_mods(with_scaffold, [ScaffoldMod()]).fit(x, {CONTROL_KEY: zero_c, "seed": 0})
    a = a.parameters[:2]
    b = plain.fit(x, {"seed": 0}).parameters
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p, q)
    assert STATE_KEY in with_scaffold.state and STATE_KEY not in plain.state


def test_scaffold_asks_its_clients_for_the_scaffold_mod() -> None:
    assert Scaffold().client_mods() == ("scaffold",)


def test_a_client_outside_local_training_gets_its_reply_passed_through() -> None:
    """A client that runs SCAFFOLD itself (reports no local steps) is left alone, as before."""
    from rengo.core.messages import FitResult as Result
    from rengo.hfl import Client

    class OwnScaffold(Client):
        def fit(self, parameters, config):
            return Result([*parameters, *[np.ones_like(p) for p in parameters]], 3)

        def evaluate(self, parameters, config):
            raise NotImplementedError

    x = [np.zeros(2)]
    result = with_mods(OwnScaffold(), [ScaffoldMod()]).fit(x, {CONTROL_KEY: [np.zeros(2)]})
    assert len(result.parameters) == 2
    np.testing.assert_array_equal(result.parameters[1], np.ones(2))


def _sharded_problem() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """240 points of 3 classes sorted by label and cut into 6 shards of 40 (1-2 labels each)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 4)) * 1.5
    y = rng.integers(0, 3, size=240)
    X = centres[y] + rng.normal(size=(240, 4))
    shards = np.array_split(np.argsort(y, kind="stable"), 6)
    return {str(i): (X[s], y[s]) for i, s in enumerate(shards)}, X, y


def test_scaffold_beats_fedavg_on_label_sharded_data() -> None:
    data, X, y = _sharded_problem()
    l2 = 1e-2

    def client_fn(cid: str) -> LogisticRegressionClient:
        Xc, yc = data[cid]
        return LogisticRegressionClient(Xc, yc, lr=0.1, local_epochs=10, batch_size=None, l2=l2)

    optimum = softmax_init(4, 3)
    for _ in range(3000):
        _, grads = softmax_loss_grad(optimum, X, y, l2)
        optimum = [p - 0.5 * g for p, g in zip(optimum, grads, strict=True)]
    best = softmax_loss_grad(optimum, X, y, l2)[0]

    gaps = {}
    for strategy in (FedAvg(min_fit_clients=6), Scaffold(min_fit_clients=6)):
        history = simulate(client_fn, 6, strategy, softmax_init(4, 3), 100, seed=0)
        gaps[strategy.name] = softmax_loss_grad(history.parameters, X, y, l2)[0] - best
    # FedAvg stalls at a drift-biased fixed point (gap ~2.7e-3); SCAFFOLD keeps converging.
    assert 0 <= gaps["Scaffold"] < 1e-3
    assert gaps["Scaffold"] < 0.2 * gaps["FedAvg"]


def test_a_client_that_ran_neither_half_of_scaffold_is_told_how_to_take_part() -> None:
    """A ported client with its own loop (no steps) that returns only the model: the round
    said "sent 6 arrays, the model has 12"; the mod now says what is missing and why."""
    from rengo.core.messages import FitResult as Result
    from rengo.hfl import Client

    class OwnLoop(Client):
        def fit(self, parameters, config):
            return Result([p + 1.0 for p in parameters], 3)

        def evaluate(self, parameters, config):
            raise NotImplementedError

    x = [np.zeros(2)]
    with pytest.raises(ValueError, match=r"SCAFFOLD: the client took no local step.*record_step"):
        with_mods(OwnLoop(), [ScaffoldMod()]).fit(x, {CONTROL_KEY: [np.zeros(2)]})
