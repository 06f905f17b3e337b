"""Every strategy's server state survives state_dict -> codec bytes -> load_state_dict, so a
checkpointed run continues exactly as an uninterrupted one would."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.codec import decode, encode
from rengo.core.messages import FitResult
from rengo.hfl import (
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedProx,
    FedYogi,
    Scaffold,
    Strategy,
)

STRATEGIES = [FedAvg, FedProx, FedAdagrad, FedAdam, FedYogi, FedAvgM, Scaffold]


def _step(strategy: Strategy, server_round: int, x: list[np.ndarray], seed: int) -> list:
    """One configure/accumulate/aggregate cycle with seeded random client results."""
    rng = np.random.default_rng(seed)
    ids = [str(i) for i in range(5)]
    chosen = strategy.configure_fit(server_round, x, ids, np.random.default_rng(seed))
    acc = strategy.accumulator(server_round, x)
    for cid, _ in chosen:
        arrays = [
            (r + rng.normal(size=r.shape)).astype(r.dtype) for r in strategy.result_reference(x)
        ]
        strategy.add_result(acc, cid, FitResult(arrays, int(rng.integers(1, 50))))
    return strategy.aggregate_fit(server_round, x, acc)


@pytest.mark.parametrize("cls", STRATEGIES, ids=lambda c: c.__name__)
def test_strategy_state_round_trips_through_the_codec(cls: type[Strategy]) -> None:
    x0 = [np.linspace(-1, 1, 6).reshape(2, 3), np.array([0.5, -0.5], dtype=np.float32)]
    original = cls(fraction_fit=0.6, min_fit_clients=2)
    original.initialize(x0)
    x1 = _step(original, 1, x0, seed=1)
    x2 = _step(original, 2, x1, seed=2)

    restored = cls(fraction_fit=0.6, min_fit_clients=2)
    restored.initialize(x0)
    x1_again = _step(restored, 1, x0, seed=1)
    resumed = cls(fraction_fit=0.6, min_fit_clients=2)
    resumed.load_state_dict(decode(encode(restored.state_dict())))
    x2_resumed = _step(resumed, 2, x1_again, seed=2)

    for a, b in zip(x2, x2_resumed, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    state, again = original.state_dict(), resumed.state_dict()
    assert state.keys() == again.keys()
    for key in state:
        if isinstance(state[key], list):
            for a, b in zip(state[key], again[key], strict=True):
                np.testing.assert_array_equal(a, b)
        else:
            assert state[key] == again[key]


@pytest.mark.parametrize(
    "cls", [FedAdagrad, FedAdam, FedYogi, FedAvgM, Scaffold], ids=lambda c: c.__name__
)
def test_stateful_strategies_lose_information_without_their_state(cls: type[Strategy]) -> None:
    """The round trip above is not vacuous: a fresh instance continues differently."""
    x0 = [np.linspace(-1, 1, 6).reshape(2, 3), np.array([0.5, -0.5], dtype=np.float32)]
    trained = cls(min_fit_clients=2)
    trained.initialize(x0)
    x1 = _step(trained, 1, x0, seed=1)
    fresh = cls(min_fit_clients=2)
    fresh.initialize(x0)
    if cls is Scaffold:  # SCAFFOLD's state changes the clients' config, not the server step.
        c_trained = trained.configure_fit(2, x1, ["0", "1"], np.random.default_rng(0))
        c_fresh = fresh.configure_fit(2, x1, ["0", "1"], np.random.default_rng(0))
        assert not np.array_equal(
            c_trained[0][1].config["scaffold_c"][0], c_fresh[0][1].config["scaffold_c"][0]
        )
        return
    a, b = _step(trained, 2, x1, seed=2), _step(fresh, 2, x1, seed=2)
    assert not np.array_equal(a[0], b[0])
