"""``rengo runs export`` of a run whose job serves the user's own model (``[model] app``, as
a deployed Flower port does) writes its arrays under generic names; it used to name them
after the job's default MLP and refuse (``hidden widths ... but the job says [64, 64]``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})


def client_fn(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    x = rng.normal(size=(20, 3))
    return LogisticRegressionClient(x, (x[:, 0] > 0).astype(int), lr=0.1)


def test_export_of_a_run_with_an_app_model_writes_its_arrays(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nname = "served"\nrounds = 2\n[model]\napp = "mymodel:initial"\n'
        '[deploy]\nparties = ["0", "1", "2"]\n'
    )
    store = tmp_path / "runs.db"
    with RunStore(store) as s:
        history = simulate(
            client_fn, ["0", "1", "2"], FedAvg(), softmax_init(3, 2), rounds=2,
            store=s, run_config={"job_file": str(job), "model": "mymodel:initial"},
        )  # fmt: skip
    out = tmp_path / "model.npz"
    result = runner.invoke(
        app, ["runs", "export", str(history.run_id), "--store", str(store), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    saved = np.load(out)
    assert saved.files == ["param_0", "param_1"]
    for name, array in zip(saved.files, history.parameters, strict=True):
        np.testing.assert_array_equal(saved[name], array)
