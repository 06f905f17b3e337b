"""Comparing claim-frequency runs: Poisson runs are compared by their held-out D^2 of the
Poisson deviance when no metric is named (they fell back to ``central_loss``), and a Poisson
run's loss (half its deviance) is never compared with another model's loss (a mean squared
error) under the one name ``central_loss``: ``rengo runs compare`` and ``runs plot`` refuse,
naming the metrics both runs logged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import DataError
from rengo.tracking import RunStore, compare_runs, plot_runs
from rengo.tracking.compared_metric import compared_metric

POISSON = ["central_poisson_deviance", "central_d2_poisson", "central_gini", "central_rmse"]
LINEAR = ["central_r2", "central_rmse", "central_mae"]


def _record(store: RunStore, model: str, lr: float, metrics: list[str], config_key: str) -> str:
    config = {
        config_key: model,
        "job_settings": {
            "job": {"rounds": 2, "seed": 0},
            "model": {"type": model},
            "train": {"lr": lr},
        },
        "job_file": "/jobs/job.toml",
    }
    run_id = store.start_run("hfl", config, name=f"{model} {lr}", seed=0)
    for k in (1, 2):
        values = {name: 0.1 * k for name in [*metrics, "central_loss"]}
        store.log_round(run_id, k, values, 0.1, 2, 0)
    store.finish_run(run_id, "completed")
    return run_id


@pytest.mark.parametrize(
    ("config_key", "model", "metric"),
    [("model", "poisson", "central_d2_poisson"), ("algorithm", "hetero_poisson", None)],
)
def test_poisson_runs_are_compared_by_their_held_out_d2(
    tmp_path: Path, config_key: str, model: str, metric: str | None
) -> None:
    store = RunStore(tmp_path / "runs.db")
    if metric is None:  # a vertical run's held-out metrics are test_ ones
        names = [name.replace("central_", "test_") for name in POISSON]
        metric = "test_d2_poisson"
    else:
        names = POISSON
    ids = [_record(store, model, lr, names, config_key) for lr in (0.1, 0.5)]
    assert compared_metric(store, ids) == metric
    assert compare_runs(store, ids, compared_metric(store, ids)).goal == "max"


@pytest.mark.parametrize("config_key", ["model", "algorithm"])
def test_a_poisson_runs_loss_is_not_compared_with_a_linear_runs(
    tmp_path: Path, config_key: str
) -> None:
    store = RunStore(tmp_path / "runs.db")
    poisson = "poisson" if config_key == "model" else "hetero_poisson"
    counts = _record(store, poisson, 0.1, POISSON, config_key)
    linear = _record(store, "linear", 0.1, LINEAR, config_key)
    assert compared_metric(store, [counts, linear]) == "central_loss"  # all they share
    refusal = (
        rf"central_loss is half the mean Poisson deviance of counts in count-model run\(s\) "
        rf"{counts} and another model's loss .* in {linear}: not one quantity; .*"
        r"besides the losses: central_rmse"
    )
    with pytest.raises(DataError, match=refusal):
        compare_runs(store, [counts, linear], "central_loss")
    with pytest.raises(DataError, match=refusal):
        plot_runs(store, [counts, linear], "central_loss", tmp_path / "plot.png")
    assert not (tmp_path / "plot.png").exists()
    compared = compare_runs(store, [counts, linear], "central_rmse")  # one quantity: fine
    assert len(compared.groups) == 2
    poisson_too = _record(store, poisson, 0.5, POISSON, config_key)
    assert len(compare_runs(store, [counts, poisson_too], "central_loss").groups) == 2


def _write_table(path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    years = 1.0 - 0.9 * rng.random(400)
    claims = rng.poisson(years * np.exp(X @ [0.3, -0.2] - 1.0))
    lines = ["id,age,power,years,claims"]
    lines += [f"p{i},{X[i, 0]:.9g},{X[i, 1]:.9g},{years[i]:.9g},{claims[i]}" for i in range(400)]
    path.write_text("\n".join(lines) + "\n")


JOB = """
[job]
name = "{model}"
rounds = 2
[data]
dataset = "csv"
path = "policies.csv"
label = "claims"
id_column = "id"
task = "regression"
{exposure}
[partition]
scheme = "iid"
num_clients = 2
[model]
type = "{model}"
"""


def test_rengo_runs_compare_refuses_a_poisson_and_a_linear_runs_loss(tmp_path: Path) -> None:
    """The same table fitted as counts and by least squares: ``runs compare`` with no metric
    named refuses the one both logged, central_loss (it compared a half deviance with an
    MSE), and names the metrics to compare them by."""
    _write_table(tmp_path / "policies.csv")
    store = str(tmp_path / "runs.db")
    for model, exposure in (("poisson", 'exposure = "years"'), ("linear", "")):
        job = tmp_path / f"{model}.toml"
        job.write_text(JOB.format(model=model, exposure=exposure))
        ran = CliRunner().invoke(app, ["run", str(job), "--store", store, "--no-progress"])
        assert ran.exit_code == 0, ran.output
    with RunStore(store) as opened:
        ids = [run.run_id for run in opened.list_runs()]
    said = CliRunner().invoke(app, ["runs", "compare", *ids, "--store", store])
    flat = " ".join(said.output.split())
    assert said.exit_code != 0 and "central_loss is half the mean Poisson deviance" in flat, flat
    assert "central_rmse" in flat
    said = CliRunner().invoke(
        app, ["runs", "compare", *ids, "--store", store, "--metric", "central_rmse"]
    )
    assert said.exit_code == 0, said.output
