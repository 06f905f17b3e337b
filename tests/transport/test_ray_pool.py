"""The Ray executor reaches the same model as the serial one (one small local run)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rengo.hfl import LogisticRegressionClient, Scaffold, simulate, softmax_init

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'rengo[ray]'")


def _client_fn(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    X = rng.normal(size=(40, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return LogisticRegressionClient(X, y, lr=0.3, batch_size=10)


@pytest.mark.timeout(120)
def test_ray_executor_matches_serial_with_client_state(start_ray: Callable[..., None]) -> None:
    # SCAFFOLD keeps per-client control variates: the pool must persist client state.
    def run(executor: str) -> list[np.ndarray]:
        return simulate(
            _client_fn,
            4,
            Scaffold(min_fit_clients=2, min_available_clients=2),
            softmax_init(5, 2),
            3,
            seed=3,
            executor=executor,
            workers=2,
        ).parameters

    start_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        got = run("ray")
    finally:
        ray.shutdown()
    for a, b in zip(got, run("serial"), strict=True):
        np.testing.assert_array_equal(a, b)
