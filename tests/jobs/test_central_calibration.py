"""A horizontal job's coordinator evaluation of a two-class model records its calibration
(the Brier score and ECE) beside its ranking metrics, and the run its reliability table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError
from rengo.hfl.early_stopping import EarlyStopping, best_round
from rengo.jobs.build import binary_ranking
from rengo.jobs.central_record import CentralEvaluationRecord
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
    assert run.summary["test_rows"] == 114  # what the central_ metrics were computed on


STOPS_EARLY = """
[job]
name = "hfl-kept-round"
seed = 1
rounds = 30
[data]
dataset = "breast_cancer"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[train]
lr = 0.5
[strategy]
name = "fedavg"
[early_stopping]
metric = "central_loss"
patience = 2
min_delta = 0.01
"""


def test_the_reliability_table_is_of_the_round_early_stopping_keeps(tmp_path: Path) -> None:
    """With [early_stopping] the run keeps its best round's model (`runs export --round
    best`): the table recorded is that round's, named with it, not the last round's."""
    job, store = tmp_path / "job.toml", tmp_path / "runs.db"
    job.write_text(STOPS_EARLY)
    ran = CliRunner().invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store) as s:
        run = s.list_runs(limit=1)[0]
        series = s.round_metrics(run.run_id)
    assert run.summary is not None
    curve = series["central_loss"]
    best = best_round(curve, lower=True, min_delta=0.01)
    assert best is not None and best[0] < curve[-1][0]  # it stopped after a later round
    assert run.summary["reliability_round"] == best[0]
    table = recorded_reliability(run.summary, run.run_id)
    assert table is not None and sum(b.rows for b in table) == run.summary["test_rows"] == 114
    gaps = sum(b.rows * abs(b.gap) for b in table if b.gap is not None) / 114
    ece = dict(series["central_ece"])
    assert ece[best[0]] != pytest.approx(ece[curve[-1][0]])  # the two models differ here
    assert gaps == pytest.approx(ece[best[0]])
    card = CliRunner().invoke(app, ["runs", "card", run.run_id, "--store", str(store)])
    assert card.exit_code == 0, card.output
    flat = " ".join(card.output.split())
    # the card's figures are the kept model's, named as such, beside the last round's
    assert f"The model the run keeps is round {best[0]}'s" in flat
    assert f"| metric | kept model (round {best[0]}) | last value | last round | better |" in flat
    assert f"| central_ece | {ece[best[0]]:.6g} | {ece[curve[-1][0]]:.6g} |" in flat
    assert "never trained on) (114 rows):" in flat
    assert f"Of the global model of round {best[0]} (the model the run keeps)" in flat


def _round_end(record: CentralEvaluationRecord, server_round: int, p: np.ndarray) -> None:
    y = np.array([0, 0, 1, 1])
    record.record(y, np.c_[1 - p, p])
    record.on_round_end(server_round, [], [], {})


def test_the_evaluation_record_keeps_only_keepable_tables_and_survives_a_resume() -> None:
    stopping = EarlyStopping(metric="central_loss", patience=3)
    record = CentralEvaluationRecord(test_rows=4)
    record.follow(stopping)
    losses = {1: 0.9, 2: 0.5, 3: 0.7, 4: 0.8}
    for r, loss in losses.items():
        _round_end(record, r, np.array([0.1, 0.2, 0.3 + r / 10, 0.9]))
        stopping.on_round_end(r, [], [], {"central_loss": loss})
    assert set(record.observer_state()["tables"]) == {"2", "4"}  # the best, the latest
    again = CentralEvaluationRecord(test_rows=4)
    again.follow(EarlyStopping(metric="central_loss", patience=3))
    again.load_observer_state(record.observer_state())
    assert again._tables == record._tables
    summary = record.run_summary()
    assert summary["reliability_round"] == 2 and summary["test_rows"] == 4
    assert summary["reliability"] == record._tables[2]
    alone = CentralEvaluationRecord(test_rows=4)  # no early stopping: the final model's
    for r in (1, 2):
        _round_end(alone, r, np.array([0.1, 0.2, 0.3 + r / 10, 0.9]))
    assert alone.run_summary()["reliability_round"] == 2
    with pytest.raises(ConfigError, match="malformed"):
        alone.load_observer_state({"tables": {"x": []}})


REGRESSION_STOPPING = """
[job]
name = "diabetes"
seed = 0
rounds = 40
[data]
dataset = "diabetes"
task = "regression"
[partition]
scheme = "iid"
num_clients = 5
[model]
type = "linear"
[train]
lr = 0.05
local_epochs = 2
batch_size = 16
[early_stopping]
metric = "central_loss"
patience = 3
min_delta = 0.02
"""


def test_a_regression_checkpointed_before_the_evaluation_record_resumes_its_early_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A regression job kept no evaluation record before: its round checkpoints key the early
    stopping's state as the first observer's (the record, new, starts from the checkpoint
    without its state: a regression has no reliability table to lose). Interrupted with
    those observers (the old order) and resumed now, the run stops where an uninterrupted
    run stops, keeping the same round, and the early stopping picks up its state from the
    checkpoint."""
    from rich.console import Console

    import rengo.cli.run_job as run_job_module
    from rengo.hfl import simulate
    from rengo.jobs.build import HflJob, run_observers

    job = tmp_path / "job.toml"
    job.write_text(REGRESSION_STOPPING)
    console = Console(file=open(tmp_path / "out.txt", "w"))  # noqa: SIM115
    whole = run_job_module.run_job(console, job, store_path=tmp_path / "whole.db", progress=False)

    def stop_at_round_5(record: object) -> None:
        if getattr(record, "server_round", None) == 5:
            raise KeyboardInterrupt

    with monkeypatch.context() as old:  # the release before: the early stopping alone
        old.setattr(HflJob, "simulation_observers", lambda job, *extra: run_observers(job.spec))
        old.setattr(
            run_job_module,
            "simulate",
            lambda *a, **k: simulate(*a, **{**k, "progress": stop_at_round_5}),
        )
        with pytest.raises(KeyboardInterrupt):
            run_job_module.run_job(console, job, store_path=tmp_path / "resumed.db", progress=False)
    with RunStore(tmp_path / "resumed.db") as store:
        interrupted = store.list_runs(limit=1)[0].run_id
    with caplog.at_level("WARNING"):
        resumed = run_job_module.run_job(
            console, job, store_path=tmp_path / "resumed.db", progress=False, resume=interrupted
        )
    lost = [r for r in caplog.records if "no state of observer 0:EarlyStopping" in r.getMessage()]
    assert not [r.getMessage() for r in caplog.records if "EarlyStopping" in r.getMessage()]
    assert not lost
    with RunStore(tmp_path / "whole.db") as a, RunStore(tmp_path / "resumed.db") as b:
        expected, got = a.get_run(whole), b.get_run(resumed)
        assert got.status == "completed"
        assert [r.round for r in b.rounds(resumed)] == [r.round for r in a.rounds(whole)]
        assert len(b.rounds(resumed)) < 40  # it did stop early
        assert got.summary is not None and expected.summary is not None
        kept = {k: v for k, v in expected.summary.items() if "stop" in k or k == "test_rows"}
        assert kept and {k: got.summary.get(k) for k in kept} == kept
