"""``on_short_round = "skip"`` on Ray: a run cut after a skipped round and resumed on the Ray
executor skips the same rounds and ends on the model an uninterrupted serial run ends on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.core.messages import FitResult
from rengo.hfl import FedAvg, History, LogisticRegressionClient, simulate
from rengo.hfl.coordinator import RoundRecord
from rengo.tracking import RunStore

ROUND_SKIPPED = "round_skipped"
"""The metric that marks a skipped round (rengo.core.skipped_round)."""

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'rengo[ray]'")

SHORT = (2, 4)
"""Rounds in which only clients 0 and 1 report (min_fit_clients=3)."""


class _LinkLost(LogisticRegressionClient):
    def __init__(self, cid: str) -> None:
        rng = np.random.default_rng(int(cid))
        X = rng.normal(size=(40, 5))
        super().__init__(X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64), lr=0.3, batch_size=10)
        self.cid = cid

    def fit(self, parameters: Any, config: Any) -> FitResult:
        if int(config["server_round"]) in SHORT and self.cid not in ("0", "1"):
            raise ConnectionError("lost its link (test)")
        return super().fit(parameters, config)


def _run(executor: str, **options: Any) -> History:
    return simulate(
        _LinkLost, 4, FedAvg(min_fit_clients=3, fraction_evaluate=0.0),
        [np.zeros((5, 2)), np.zeros(2)], 5, seed=3, executor=executor, workers=2,
        on_short_round="skip", **options,
    )  # fmt: skip


def _stop_after_2(record: RoundRecord) -> None:
    if record.server_round == 2:
        raise KeyboardInterrupt


@pytest.mark.timeout(180)
def test_a_run_resumed_on_ray_skips_the_same_rounds_and_ends_as_an_uninterrupted_one(
    start_ray: Callable[..., None], tmp_path: Path
) -> None:
    whole = _run("serial")
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(KeyboardInterrupt):
        _run("serial", store=store, progress=_stop_after_2)
    run_id = store.list_runs()[0].run_id
    start_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        resumed = _run("ray", store=store, resume=run_id)
    finally:
        ray.shutdown()
    assert [r.server_round for r in resumed.rounds if r.skipped] == [4]
    for a, b in zip(resumed.parameters, whole.parameters, strict=True):
        np.testing.assert_array_equal(a, b)
    recorded = [r.round for r in store.rounds(run_id) if ROUND_SKIPPED in r.metrics]
    assert recorded == list(SHORT)
