"""A round's memory is O(model), not O(clients x model): requests are encoded when a pool
takes them and results are folded as they arrive."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_many_clients_of_a_100k_parameter_model_never_hold_all_models(executor):
    rng = np.random.default_rng(0)
    d, k, clients = 999, 100, 300  # (999 + 1) x 100 = 100k float64 parameters = 0.8 MB
    X, y = rng.normal(size=(4, d)), rng.integers(0, k, 4)

    def client_fn(cid: str) -> LogisticRegressionClient:
        return LogisticRegressionClient(X, y, lr=0.1, batch_size=None)

    model_mb = 100_000 * 8 / 2**20
    tracemalloc.start()
    try:
        simulate(client_fn, clients, FedAvg(), softmax_init(d, k), 1, executor=executor)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Holding every client's encoded request or result would need clients x model_mb (229 MB);
    # in flight are at most a few batches of 8 per worker (measured: 10-40 MB).
    assert peak / 2**20 < 100 * model_mb, f"peak {peak / 2**20:.0f} MB"
