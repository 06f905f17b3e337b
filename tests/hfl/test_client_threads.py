"""Every executor gives a client one BLAS/PyTorch thread by default; Ray's
``num_cpus_per_client = k`` gives its clients k, and a multithreaded matrix product may
split a sum among threads and round it otherwise. The documented remedy, the same
``threads_per_client`` on the executor compared against, gives the same model bit for bit;
between thread counts the models differ only by rounding (the documented bound)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from rengo.hfl import FedAvg, History, LogisticRegressionClient, simulate, softmax_init

if max((p["num_threads"] for p in threadpool_info()), default=1) < 2:
    pytest.skip("needs a BLAS that may run 2 threads", allow_module_level=True)

RNG = np.random.default_rng(0)
DATA = {c: (RNG.standard_normal((1000, 3000)), RNG.integers(0, 10, 1000)) for c in "ab"}


def _client(cid: str) -> LogisticRegressionClient:
    return LogisticRegressionClient(*DATA[cid], lr=0.1, batch_size=1000)


def _run(executor: str, threads: int) -> History:
    options = {"threads_per_client": threads}
    return simulate(
        _client, ["a", "b"], FedAvg(), softmax_init(3000, 10), 2, seed=1,
        executor=executor, workers=2, executor_options=options,
    )  # fmt: skip


def test_the_same_threads_per_client_give_the_same_model_on_every_executor() -> None:
    serial, processes = _run("serial", 2), _run("process", 2)
    for got, want in zip(processes.parameters, serial.parameters, strict=True):
        np.testing.assert_array_equal(got, want)


def test_other_threads_per_client_move_the_model_by_rounding_only() -> None:
    one, two = _run("serial", 1), _run("serial", 2)
    for a, b in zip(one.parameters, two.parameters, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
