"""A rare-positive vertical job end to end: ``rengo run`` with class_weight and a target
recall trains weighted, and ``rengo runs show`` reports average precision and the
operating point beside AUC; settings that cannot apply are refused with the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomllib
from rich.console import Console
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core import ConfigError
from rengo.jobs import parse_job
from rengo.tracking import RunStore
from rengo.tracking.client_spread import lower_is_better
from rengo.tracking.tables import run_detail

JOB = """
[job]
kind = "vfl"
name = "fraud"
seed = 4
[vfl]
algorithm = "{algorithm}"
label_party = "bank"
label = "fraud"
test_size = 0.3
key_bits = 512
{extra}
[vfl.parties]
bank = "bank.csv"
shop = "shop.csv"
"""


def write_tables(folder: Path, rows: int = 500, seed: int = 0) -> None:
    """A bank with one column and the labels (about 4% frauds), a shop with two columns."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    logit = 1.5 * x[:, 0] + 1.0 * x[:, 1] - 1.0 * x[:, 2] - 4.0
    fraud = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    ids = [f"acct{i:05d}" for i in range(rows)]
    bank = ["id,a,fraud"] + [f"{i},{r[0]:.6f},{f}" for i, r, f in zip(ids, x, fraud, strict=True)]
    shop = ["id,b,c"] + [f"{i},{r[1]:.6f},{r[2]:.6f}" for i, r in zip(ids, x, strict=True)]
    (folder / "bank.csv").write_text("\n".join(bank) + "\n")
    (folder / "shop.csv").write_text("\n".join(shop) + "\n")


def test_rengo_run_with_class_weight_reports_average_precision_and_the_operating_point(
    tmp_path: Path,
) -> None:
    write_tables(tmp_path)
    extra = 'class_weight = "balanced"\nn_trees = 3\nmax_depth = 2\ntarget_recall = 0.8'
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(algorithm="secureboost", extra=extra))
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store) as opened:
        run = opened.list_runs()[0]
        metrics = opened.round_metrics(run.run_id)
        assert run.config["class_weight"] == "balanced"
    for name in ("test_average_precision", "test_at_recall_threshold", "test_at_recall_precision"):
        assert name in metrics, sorted(metrics)
    recall = metrics["test_at_recall_recall"][-1][1]
    assert recall >= 0.8
    shown = Console(width=300, record=True)  # what `rengo runs show` prints
    with RunStore(store) as opened:
        shown.print(run_detail(opened, run.run_id))
    text = shown.export_text()
    assert "test_average_precision" in text and "test_at_recall_precision" in text
    # the dashboard and `rengo runs compare` rank them as higher-is-better
    assert not any(lower_is_better(name) for name in metrics if "precision" in name)


def test_a_target_recall_on_a_regression_is_refused_with_the_fix(tmp_path: Path) -> None:
    raw = tomllib.loads(
        JOB.format(algorithm="hetero_linear", extra="target_recall = 0.8").replace(
            '"bank.csv"', f'"{tmp_path / "bank.csv"}"'
        )
    )
    with pytest.raises(ConfigError, match=r"vfl\.target_recall picks a threshold on a binary"):
        parse_job(raw)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("class_weight = {0 = 1, 1 = 0}", "weight of class 1 must be a positive number"),
        ('class_weight = "heavy"', "write none, balanced, or per class"),
        ("target_recall = 1.5", r"vfl\.target_recall must be in"),
    ],
)
def test_bad_imbalance_settings_are_refused_naming_the_key(extra: str, problem: str) -> None:
    raw = tomllib.loads(JOB.format(algorithm="secureboost", extra=extra))
    with pytest.raises(ConfigError, match=problem):
        parse_job(raw)


HFL_JOB = """
[job]
name = "rare-disease"
seed = 1
rounds = 3
[data]
dataset = "csv"
path = "patients.csv"
label = "disease"
test_size = 0.3
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[train]
lr = 0.5
local_epochs = 5
batch_size = 64
{extra}
"""


def write_patients(folder: Path, rows: int = 900, seed: int = 5) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    logit = x @ np.array([1.5, -1.0, 0.5]) - 3.5
    disease = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    lines = ["a,b,c,disease"] + [
        f"{r[0]:.5f},{r[1]:.5f},{r[2]:.5f},{d}" for r, d in zip(x, disease, strict=True)
    ]
    (folder / "patients.csv").write_text("\n".join(lines) + "\n")


def _horizontal_metrics(tmp_path: Path, extra: str) -> dict[str, float]:
    write_patients(tmp_path)
    job = tmp_path / "job.toml"
    job.write_text(HFL_JOB.format(extra=extra))
    store = tmp_path / f"runs-{len(extra)}.db"
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store) as opened:
        metrics = opened.round_metrics(opened.list_runs()[0].run_id)
    return {name: values[-1][1] for name, values in metrics.items()}


def test_a_horizontal_job_with_balanced_weights_reports_average_precision(
    tmp_path: Path,
) -> None:
    plain = _horizontal_metrics(tmp_path, "")
    balanced = _horizontal_metrics(tmp_path, 'class_weight = "balanced"')
    for metrics in (plain, balanced):
        assert 0 < metrics["central_average_precision"] <= 1
        assert 0.5 < metrics["central_auc"] <= 1
    # weighting trades accuracy at 0.5 for recall: the rare class is predicted more often
    assert balanced["central_accuracy"] < plain["central_accuracy"]


def test_class_weight_on_a_horizontal_regression_is_refused(tmp_path: Path) -> None:
    write_patients(tmp_path)
    job = tmp_path / "job.toml"
    text = (
        HFL_JOB.format(extra='class_weight = "balanced"')
        .replace('type = "logistic"', 'type = "linear"')
        .replace('label = "disease"', 'label = "disease"\ntask = "regression"')
    )
    job.write_text(text)
    result = CliRunner().invoke(
        app, ["run", str(job), "--no-progress", "--store", str(tmp_path / "r.db")]
    )
    assert result.exit_code != 0
    assert "train.class_weight = 'balanced' weighs classes" in result.output
