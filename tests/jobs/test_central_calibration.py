"""A horizontal job's coordinator evaluation of a two-class model records its calibration
(the Brier score and ECE) beside its ranking metrics, and the run its reliability table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.jobs.build import binary_ranking
from rengo.metrics import expected_calibration_error
from rengo.tracking import RunStore
from rengo.tracking.reliability import recorded_reliability


def test_two_class_probabilities_get_brier_and_ece_of_the_positive_column() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = rng.uniform(0, 1, 200)
    metrics = binary_ranking(y, np.c_[1 - p1, p1])
    assert metrics["brier"] == pytest.approx(brier_score_loss(y, p1))
    assert metrics["ece"] == pytest.approx(expected_calibration_error(y, p1))


def test_three_classes_get_no_binary_metrics() -> None:
    probabilities = np.full((3, 3), 1 / 3)
    assert binary_ranking(np.array([0, 1, 2]), probabilities) == {}


HORIZONTAL = """
[job]
name = "hfl-calibration"
seed = 0
rounds = 2
[data]
dataset = "breast_cancer"
test_size = 0.2
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[train]
lr = 0.05
[strategy]
name = "fedavg"
[contribution]
method = "loo"
"""


def test_a_horizontal_run_records_the_global_models_reliability_table(tmp_path: Path) -> None:
    """The table is the final global model's on the test split, not the model of the last
    coalition the contribution tracker evaluated: its ECE is the last round's central_ece."""
    job, store = tmp_path / "job.toml", tmp_path / "runs.db"
    job.write_text(HORIZONTAL)
    ran = CliRunner().invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store) as s:
        run = s.list_runs(limit=1)[0]
        series = s.round_metrics(run.run_id)
    assert run.summary is not None
    table = recorded_reliability(run.summary, run.run_id)
    assert table is not None
    assert sum(b.rows for b in table) == 114  # breast_cancer's 569 rows, 20% held out
    gaps = sum(b.rows * abs(b.gap) for b in table if b.gap is not None)
    assert gaps / 114 == pytest.approx(series["central_ece"][-1][1])
