"""rengo runs mirrored into the real MLflow and TensorBoard read back as the store has them:
params, every round's metrics at its step, client aggregates, the final model, the status."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.hfl import History, simulate
from rengo.jobs import build_hfl_job, parse_job
from rengo.tracking import RunStore
from rengo.tracking.mirrors import MirroringStore, mirror_run, round_scalars
from rengo.tracking.model_export import load_model
from rengo.tracking.records import ClientRecord, RoundRecord
from tests.ui.conftest import TIMEOUT, record_alpha

JOB = {
    "job": {"name": "mirrored", "seed": 4, "rounds": 3},
    "data": {"dataset": "iris"},
    "partition": {"num_clients": 3},
    "model": {"type": "logistic"},
    "train": {"batch_size": 16},
    "strategy": {"fraction_evaluate": 1.0},
}


def _simulate(store: RunStore, name: str = "mirrored") -> History:
    job = build_hfl_job(parse_job(JOB))
    return simulate(
        job.client_fn,
        job.client_ids,
        job.strategy,
        job.initial_parameters,
        3,
        store=store,
        run_name=name,
        run_config={"model": "logistic", "train": {"lr": 0.05}},
    )


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("mlflow", reason="MLflow mirroring needs: pip install 'rengo[mlflow]'")
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def _mlflow(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def _tensorboard(folder: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def test_round_scalars_name_every_number() -> None:
    record = RoundRecord(2, 1.5, 3, 1, {"acc": 0.5, "loss": float("nan")})
    clients = [
        ClientRecord(2, "a", "fit", "ok", 1, 10, 5, 0.1, None, {"loss": 0.25}),
        ClientRecord(2, "b", "fit", "failed", 0, 10, 0, 0.1, TIMEOUT, None),
    ]
    assert round_scalars(record, clients) == {
        "acc": 0.5,
        "round/duration_s": 1.5,
        "clients/ok": 2.0,
        "clients/failed": 1.0,
        "traffic/bytes_sent": 20.0,
        "traffic/bytes_received": 5.0,
        "clients/fit_loss/mean": 0.25,
        "clients/fit_loss/worst_decile": 0.25,
    }


def test_mlflow_mirror_replays_a_run(tmp_path: Path, mlflow_uri: str) -> None:
    from rengo.tracking.mirrors import MlflowMirror

    with RunStore(tmp_path / "runs.db") as store:
        alpha = record_alpha(store)
        mirror = MlflowMirror(mlflow_uri, "replay")
        mirror_run(store, alpha, [mirror])
        client = _mlflow(mlflow_uri)
        run = client.get_run(mirror.mlflow_run_id(alpha))
        assert run.info.status == "FINISHED" and run.info.run_name == "alpha"
        assert run.data.params == {"strategy": "FedAvg", "rounds": "3", "lr": "0.1", "seed": "3"}
        assert run.data.tags["rengo.run_id"] == alpha and run.data.tags["rengo.kind"] == "hfl"
        history = client.get_metric_history(run.info.run_id, "central_accuracy")
        assert [(m.step, m.value) for m in history] == store.round_metrics(alpha)[
            "central_accuracy"
        ]
        loss = client.get_metric_history(run.info.run_id, "central_loss")
        assert [m.step for m in loss] == [1, 2]  # round 3's NaN is not a point
        failed = client.get_metric_history(run.info.run_id, "clients/failed")
        assert [(m.step, m.value) for m in failed] == [(1, 0.0), (2, 1.0), (3, 0.0)]
        assert run.data.metrics["contribution.gtg.c1"] == 0.5
        assert run.data.metrics["summary.wall_time_s"] == 3.75
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "rengo")}
        assert artifacts == {"rengo/run.json", "rengo/ledger.csv"}
        same = MlflowMirror(mlflow_uri, "replay")
        mirror_run(store, alpha, [same])  # mirrored again: the same MLflow run, no new points
        assert same.mlflow_run_id(alpha) == mirror.mlflow_run_id(alpha)
        history = client.get_metric_history(run.info.run_id, "central_accuracy")
        assert [m.step for m in history] == [1, 2, 3]
        again = MlflowMirror(mlflow_uri, "replay", replace=True)
        mirror_run(store, alpha, [again])
        assert client.get_run(mirror.mlflow_run_id(alpha)).info.lifecycle_stage == "deleted"
        assert again.mlflow_run_id(alpha) != mirror.mlflow_run_id(alpha)


def test_live_mirroring_while_simulating(tmp_path: Path, mlflow_uri: str) -> None:
    from rengo.tracking.mirrors import MlflowMirror, TensorBoardMirror

    mlflow, board = MlflowMirror(mlflow_uri, "live"), TensorBoardMirror(tmp_path / "tb")
    with MirroringStore(tmp_path / "runs.db", mirrors=[mlflow, board]) as store:
        history = _simulate(store)
        run_id = history.run_id
        assert run_id is not None
        series = store.round_metrics(run_id)
        final = load_model(store, run_id)
        folder = board.folder_for(store, store.get_run(run_id))
    client = _mlflow(mlflow_uri)
    mlflow_id = mlflow.mlflow_run_id(run_id)
    for key, points in series.items():
        got = [(m.step, m.value) for m in client.get_metric_history(mlflow_id, key)]
        assert got == [(r, pytest.approx(v)) for r, v in points], key
    assert client.get_run(mlflow_id).data.params["train.lr"] == "0.05"
    download = Path(client.download_artifacts(mlflow_id, "model", str(tmp_path)))
    with np.load(download / "model.npz") as exported:
        assert list(exported) == ["param_0", "param_1"]
        np.testing.assert_array_equal(exported["param_0"], final.parameters[0])
    accumulator = _tensorboard(folder)
    for key, points in series.items():
        scalars = [(e.step, e.value) for e in accumulator.Scalars(key)]
        assert scalars == [(r, pytest.approx(v, rel=1e-6)) for r, v in points], key
    assert [e.step for e in accumulator.Scalars("clients/evaluate_accuracy/worst_decile")] == [
        1,
        2,
        3,
    ]
    assert {"rengo/config", "rengo/summary"} <= set(accumulator.Tags()["tensors"])
    config = accumulator.Tensors("rengo/config")[0].tensor_proto.string_val[0].decode()
    assert "| strategy | FedAvg |" in config and run_id in config
    assert "_hparams_/session_start_info" in accumulator.Tags()["tensors"]


class Broken:
    """A mirror that fails at every call."""

    def open(self, *args: Any) -> None:
        raise RuntimeError("mirror down")

    round = close = open


def test_a_failing_mirror_never_stops_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, "rengo.tracking"),
        MirroringStore(tmp_path / "runs.db", mirrors=[Broken()]) as store,
    ):
        history = _simulate(store)
        assert store.get_run(history.run_id).status == "completed"  # type: ignore[arg-type]
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 2, said  # when it first fails, and when filling it in at the end fails
    assert said[0].startswith("Broken failed to open run ")
    assert "could not fill in run" in said[1]


def test_cli_mirrors_a_recorded_run_and_a_job_live(tmp_path: Path, mlflow_uri: str) -> None:
    pytest.importorskip("tensorboard", reason="needs: pip install 'rengo[tensorboard]'")
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _simulate(store).run_id
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["runs", "mirror", run_id, "--to", "tensorboard", "--store", str(tmp_path / "runs.db")],  # type: ignore[list-item]
    )
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "tensorboard").iterdir())
    assert folder.name == f"mirrored-{run_id}"
    assert [e.step for e in _tensorboard(folder).Scalars("central_accuracy")] == [1, 2, 3]
    result = runner.invoke(
        app,
        [
            "runs",
            "mirror",
            run_id,
            "--to",
            "mlflow",
            "--uri",
            mlflow_uri,  # type: ignore[list-item]
            "--experiment",
            "cli",
            "--store",
            str(tmp_path / "runs.db"),
        ],
    )
    assert result.exit_code == 0, result.output
    experiment = _mlflow(mlflow_uri).get_experiment_by_name("cli")
    found = _mlflow(mlflow_uri).search_runs([experiment.experiment_id])
    assert [r.data.tags["rengo.run_id"] for r in found] == [run_id]
    result = runner.invoke(
        app,
        ["runs", "mirror", run_id, "--to", "wandb", "--store", str(tmp_path / "runs.db")],  # type: ignore[list-item]
    )
    assert result.exit_code == 2 and "choose one of mlflow, tensorboard" in result.output
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nname = "cli-live"\nrounds = 2\n[data]\ndataset = "iris"\n'
        '[partition]\nnum_clients = 2\n[model]\ntype = "logistic"\n'
    )
    live_store = tmp_path / "live" / "runs.db"
    result = runner.invoke(
        app,
        ["run", str(job), "--store", str(live_store), "--no-progress", "--mirror", "tensorboard"],
    )
    assert result.exit_code == 0, result.output
    (live,) = (live_store.parent / "tensorboard").iterdir()
    assert [e.step for e in _tensorboard(live).Scalars("central_accuracy")] == [1, 2]


@pytest.fixture(autouse=True)
def _needs_tensorboard() -> Iterator[None]:
    pytest.importorskip("tensorboard", reason="needs: pip install 'rengo[tensorboard]'")
    yield


def test_mirroring_to_a_new_mlflow_store_prints_no_database_set_up_lines(
    tmp_path: Path, mlflow_uri: str
) -> None:
    # a fresh process, as `rengo run --mirror mlflow` is: MLflow sets up its logging on import
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nname = "quiet"\nrounds = 1\n[data]\ndataset = "iris"\n'
        '[partition]\nnum_clients = 2\n[model]\ntype = "logistic"\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rengo.cli.main",
            "run",
            str(job),
            "--no-progress",
            "--store",
            str(tmp_path / "runs.db"),
            "--mirror",
            "mlflow",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "mlflow.db").exists()  # the database was set up, quietly
    said = done.stdout + done.stderr
    assert "Creating initial MLflow database tables" not in said
    assert "Updating database tables" not in said


def test_an_unknown_mirror_is_refused_before_the_run_is_announced_or_trained(
    tmp_path: Path,
) -> None:
    job = tmp_path / "job.toml"
    job.write_text('[job]\nname = "typo"\nrounds = 1\n[data]\ndataset = "iris"\n')
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(
        app, ["run", str(job), "--store", str(store), "--no-progress", "--mirror", "tensorbord"]
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "--mirror: mirror = 'tensorbord'; did you mean 'tensorboard'? choose one of" in said
    assert "typo:" not in said  # no job banner
    assert not store.exists()  # no run recorded
