"""The norms the coordinator takes of every update (the recorded ``update_norm``, the DP
clip, norm bounding, the update-norm median rule) and a client's clip are the same
whatever the BLAS thread count: the serial pool runs the coordinator's process with one
BLAS thread while clients run, the process and Ray pools and a deployed coordinator with
the machine's, and a Ray client with as many as the CPUs it reserves. numpy's dot product
goes through BLAS, which (OpenBLAS from about 20,000 values) splits the sum among its
threads and rounds it otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from rengo.hfl import FedAvg, LogisticRegressionClient, simulate
from rengo.hfl.mods.clipping import clip_update
from rengo.hfl.result_checks import update_norm
from rengo.privacy import clip_by_l2_norm, l2_norm
from rengo.tracking import RunStore

if max((p["num_threads"] for p in threadpool_info()), default=1) < 2:
    pytest.skip("needs a BLAS that may run 2 threads", allow_module_level=True)

RNG = np.random.default_rng(7)
# 30,100 values each; a norm's square root hides most last-digit differences of its sum,
# so several updates: before, 5 of these 20 norms differed between 1 and 2 threads
UPDATES = [[RNG.standard_normal((300, 100)), RNG.standard_normal(100)] for _ in range(20)]
UPDATE, REFERENCE = UPDATES[0], UPDATES[1]


def _on_threads(threads: int, compute: object) -> object:
    with threadpool_limits(limits=threads):
        return compute()  # type: ignore[operator]


def test_the_l2_norm_and_the_clip_are_the_same_on_one_or_two_blas_threads() -> None:
    one, two = (_on_threads(t, lambda: [l2_norm(u) for u in UPDATES]) for t in (1, 2))
    assert one == two
    clipped = [_on_threads(t, lambda: clip_by_l2_norm(UPDATE, 1.0)[0]) for t in (1, 2)]
    for a, b in zip(*clipped, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_recorded_update_norm_is_the_same_on_one_or_two_blas_threads() -> None:
    def norms() -> list[float]:
        return [update_norm(u, REFERENCE) for u in UPDATES]

    assert _on_threads(1, norms) == _on_threads(2, norms)


def test_a_clients_clip_is_the_same_on_one_or_two_blas_threads() -> None:
    """ClipUpdateMod's clip, on a client with 1 thread (serial, process) or several (Ray)."""

    def clipped() -> list[list[np.ndarray]]:
        return [clip_update(u, REFERENCE, 1.0)[0] for u in UPDATES]

    for a, b in zip(_on_threads(1, clipped), _on_threads(2, clipped), strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_a_serial_and_a_process_run_record_the_same_update_norms(tmp_path: Path) -> None:
    """Before, a logistic model of 2,000 features and 10 classes recorded norms that
    differed in their last digit between executor="serial" and "process"."""
    rng = np.random.default_rng(3)
    data = {c: (rng.standard_normal((40, 2000)), rng.integers(0, 10, 40)) for c in "ab"}

    def client_fn(cid: str) -> LogisticRegressionClient:
        return LogisticRegressionClient(*data[cid], lr=0.5)

    initial = [np.zeros((2000, 10)), np.zeros(10)]
    norms = {}
    for executor in ("serial", "process"):
        with RunStore(tmp_path / f"{executor}.db") as store:
            run = simulate(
                client_fn, ["a", "b"], FedAvg(), initial, 1, executor=executor, store=store
            )
            records = store.client_records(run.run_id)
            norms[executor] = [(r.client_id, (r.metrics or {})["update_norm"]) for r in records]
    assert norms["process"] == norms["serial"]
