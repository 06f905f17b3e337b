"""The Ray executor reaches the same model as the serial one (one small local run)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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


def test_a_ray_run_prints_rengos_lines_not_rays_start_up_chatter(tmp_path: Path) -> None:
    # a fresh process, as `rengo run --executor ray` is: Ray starts and logs once per process
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nname = "quiet"\nrounds = 1\n[data]\ndataset = "iris"\n'
        '[partition]\nnum_clients = 2\n[model]\ntype = "logistic"\n'
    )
    command = [sys.executable, "-m", "rengo.cli.main", "run", str(job), "--no-progress"]
    done = subprocess.run(
        [*command, "--executor", "ray", "--store", str(tmp_path / "runs.db")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "completed: central_accuracy=" in " ".join(said.split())
    assert "Started a local Ray instance" not in said
    assert "In future versions of Ray" not in said
