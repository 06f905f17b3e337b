"""`rengo runs export` of a differentially private run says the epsilon beside the file it
writes: the exported model carries no record of it, and whoever publishes the file signs
that number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore
from rengo.tracking.tables import epsilon_shown

pytest.importorskip("dp_accounting")


def test_exporting_a_central_dp_model_prints_the_runs_epsilon(tmp_path: Path) -> None:
    from rengo.hfl import (
        DifferentialPrivacy,
        FedAvg,
        LogisticRegressionClient,
        simulate,
        softmax_init,
    )
    from rengo.privacy import CentralDP, epsilon_after

    rng = np.random.default_rng(0)
    data = {str(i): (rng.normal(size=(10, 3)), rng.integers(0, 2, 10)) for i in range(10)}
    dp = CentralDP(noise_multiplier=2.0, delta=1e-3, accountant="rdp")
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: LogisticRegressionClient(*data[cid]), list(data),
            DifferentialPrivacy(FedAvg(), dp), softmax_init(3, 2), 2, store=store,
        )  # fmt: skip
        plain = simulate(
            lambda cid: LogisticRegressionClient(*data[cid]), list(data), FedAvg(),
            softmax_init(3, 2), 1, store=store,
        )  # fmt: skip
    store_arg = ["--store", str(tmp_path / "runs.db")]
    out = CliRunner().invoke(
        app, ["runs", "export", str(history.run_id), "-o", str(tmp_path / "m.npz"), *store_arg]
    )
    assert out.exit_code == 0, out.output
    spent = epsilon_after(2, 2.0, 1e-3, 1.0, "rdp")
    text = " ".join(out.output.split())
    assert f"privacy: epsilon {epsilon_shown(spent)} at delta 0.001 after 2 rounds" in text
    out = CliRunner().invoke(
        app, ["runs", "export", str(plain.run_id), "-o", str(tmp_path / "p.npz"), *store_arg]
    )
    assert out.exit_code == 0, out.output
    assert "privacy:" not in out.output
