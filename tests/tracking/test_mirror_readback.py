"""What a researcher reads back through MLflow's and TensorBoard's own readers after rengo
mirrored a run: every param (whatever its key), one point per metric and step (vertical
epochs, resumed runs, a run mirrored again after a live mirror that failed part way)."""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.jobs.vertical import log_vertical_epochs
from rengo.tracking import RunStore
from rengo.tracking.mirrors import MirroringStore, MlflowMirror, TensorBoardMirror
from rengo.tracking.mirrors import base as mirrors_base

pytest.importorskip("mlflow", reason="MLflow mirroring needs: pip install 'rengo[mlflow]'")
pytest.importorskip("tensorboard", reason="needs: pip install 'rengo[tensorboard]'")

VALID = re.compile(r"[A-Za-z0-9_\-./ ]+")


def _iris_job(folder: Path, name: str) -> Path:
    """A two-round horizontal job on iris over two clients, written to ``folder/job.toml``."""
    job = folder / "job.toml"
    job.write_text(
        f'[job]\nname = "{name}"\nrounds = 2\n[data]\ndataset = "iris"\n'
        '[partition]\nnum_clients = 2\n[model]\ntype = "logistic"\n'
    )
    return job


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def _mlflow_runs(uri: str, rengo_run: str) -> list[Any]:
    client = _client(uri)
    experiment = client.get_experiment_by_name("rengo")
    return list(
        client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.`rengo.run_id` = '{rengo_run}'"
        )
    )


def _steps(uri: str, mlflow_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in _client(uri).get_metric_history(mlflow_id, key))


def _board(folder: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def _runs_mirror(run_id: str, target: str, location: str, store: Path) -> Any:
    """``rengo runs mirror RUN --to TARGET --uri LOCATION --store STORE``."""
    arguments = ["runs", "mirror", run_id, "--to", target, "--uri", location]
    return CliRunner().invoke(app, [*arguments, "--store", str(store)])


def _mirrors(root: Path) -> tuple[MlflowMirror, TensorBoardMirror, str]:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return MlflowMirror(uri), TensorBoardMirror(root / "tb"), uri


def test_mirror_names_are_valid_stable_and_distinct() -> None:
    from rengo.tracking.mirrors.names import mirror_name, mirror_names

    assert mirror_name("parties.clinic@north") == "parties.clinic_north"
    assert mirror_name("auc (test)") == "auc__test_"
    assert mirror_name("/a//b/../c") == "_/a/_/b/_/c"
    long = "k" * 300
    assert len(mirror_name(long)) == 250 and mirror_name(long) == mirror_name(long)
    assert mirror_name(long) != mirror_name("k" * 299)
    names = mirror_names(["a b", "a_b", "a@b"])
    assert names["a_b"] == "a_b"  # a valid key keeps its name
    assert sorted(names.values()) == ["a_b", "a_b-2", "a_b-3"]


def test_every_param_reaches_mlflow_whatever_its_key_value_or_count(tmp_path: Path) -> None:
    mlflow, _, uri = _mirrors(tmp_path)
    config = {
        "vfl": {"parties": {"clinic@north": "north.csv", "lab (east)": "east.csv"}},
        "note": "x" * 7000,
        "k" * 300: 1,
        "./odd": True,
        "empty": {},
        "many": {f"p{i}": i for i in range(150)},
    }
    with MirroringStore(tmp_path / "runs.db", mirrors=[mlflow]) as store:
        run_id = store.start_run("vfl", config, name="odd params", seed=7)
        store.finish_run(run_id, "completed")
    (run,) = _mlflow_runs(uri, run_id)
    params = run.data.params
    assert len(params) == 2 + 1 + 1 + 1 + 1 + 150 + 1  # every entry and the seed
    assert params["vfl.parties.clinic_north"] == "north.csv"
    assert params["vfl.parties.lab__east_"] == "east.csv"
    assert params["note"] == "x" * 6000  # MLflow's longest value
    assert params["_/odd"] == "true" and params["empty"] == "{}" and params["many.p149"] == "149"
    assert all(VALID.fullmatch(key) and len(key) <= 250 for key in params)
    assert run.info.status == "FINISHED"


def test_odd_metric_names_reach_both_tools_under_the_same_name(tmp_path: Path) -> None:
    mlflow, board, uri = _mirrors(tmp_path)
    with MirroringStore(tmp_path / "runs.db", mirrors=[mlflow, board]) as store:
        run_id = store.start_run("ftl", {"algorithm": "ftl"}, name="transfer")
        store.log_round(run_id, 1, {"auc (target)": 0.75, "loss/..": 0.5}, 1.0, 2, 0)
        store.finish_run(run_id, "completed")
        folder = board.folder_for(store, store.get_run(run_id))
    mlflow_id = mlflow.mlflow_run_id(run_id)
    assert mlflow_id is not None
    assert _steps(uri, mlflow_id, "auc__target_") == [(1, 0.75)]
    assert _steps(uri, mlflow_id, "loss/_") == [(1, 0.5)]
    tags = _board(folder).Tags()["scalars"]
    assert {"auc__target_", "loss/_"} <= set(tags)


def test_vertical_epochs_have_one_point_per_step_in_both_tools(tmp_path: Path) -> None:
    mlflow, board, uri = _mirrors(tmp_path)
    with MirroringStore(tmp_path / "runs.db", mirrors=[mlflow, board]) as store:
        run_id = store.start_run("vfl", {"algorithm": "hetero_lr"}, name="vertical")
        # the last epoch is logged twice: its loss, then the held-out metrics
        log_vertical_epochs(store, run_id, [0.7, 0.6, 0.5], [1.0, 1.0, 1.0], {"auc": 0.8}, 3, 3.0)
        store.finish_run(run_id, "completed")
        folder = board.folder_for(store, store.get_run(run_id))
    mlflow_id = mlflow.mlflow_run_id(run_id)
    assert mlflow_id is not None
    assert _steps(uri, mlflow_id, "train_loss") == [(1, 0.7), (2, 0.6), (3, 0.5)]
    assert _steps(uri, mlflow_id, "auc") == [(3, 0.8)]
    assert _steps(uri, mlflow_id, "clients/ok") == [(1, 3.0), (2, 3.0), (3, 3.0)]
    accumulator = _board(folder)
    for tag in accumulator.Tags()["scalars"]:
        steps = [e.step for e in accumulator.Scalars(tag)]
        assert steps == sorted(set(steps)), tag


def test_a_resumed_run_continues_its_mlflow_run_and_tensorboard_series(tmp_path: Path) -> None:
    def store() -> MirroringStore:
        mlflow, board, _ = _mirrors(tmp_path)  # a new process: new mirrors
        return MirroringStore(tmp_path / "runs.db", mirrors=[mlflow, board])

    with store() as first:
        run_id = first.start_run("hfl", {"rounds": 4}, name="resumed")
        for number in (1, 2):
            first.log_round(run_id, number, {"accuracy": number / 10}, 1.0, 3, 0)
        first.finish_run(run_id, "interrupted", {"rounds_done": 2})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (interrupted,) = _mlflow_runs(uri, run_id)
    assert interrupted.info.status == "KILLED"
    with store() as second:
        second.resume_run(run_id)
        (running,) = _mlflow_runs(uri, run_id)
        assert running.info.status == "RUNNING"
        for number in (2, 3, 4):  # round 2 again: its checkpoint was round 1's
            second.log_round(run_id, number, {"accuracy": number / 10}, 1.0, 3, 0)
        second.finish_run(run_id, "completed", {"rounds_done": 4})
        folder = TensorBoardMirror(tmp_path / "tb").folder_for(second, second.get_run(run_id))
    (done,) = _mlflow_runs(uri, run_id)
    assert done.info.run_id == interrupted.info.run_id and done.info.status == "FINISHED"
    assert [s for s, _ in _steps(uri, done.info.run_id, "accuracy")] == [1, 2, 3, 4]
    assert done.data.metrics["summary.rounds_done"] == 4
    assert [e.step for e in _board(folder).Scalars("accuracy")] == [1, 2, 3, 4]


@pytest.fixture
def mlflow_down(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """``mlflow_down["now"] = True`` makes every MLflow ``log_batch`` fail as an unreachable
    server does, until it is set back to False."""
    from mlflow.tracking import MlflowClient

    real = MlflowClient.log_batch
    down = {"now": False}

    def log_batch(self: Any, *args: Any, **kwargs: Any) -> Any:
        if down["now"]:
            raise ConnectionError("MLflow server unreachable")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    return down


def test_runs_mirror_fills_in_what_a_failing_live_mirror_missed_and_adds_nothing_twice(
    tmp_path: Path, mlflow_down: dict[str, bool]
) -> None:
    mlflow, board, uri = _mirrors(tmp_path)
    down = mlflow_down
    with MirroringStore(tmp_path / "runs.db", mirrors=[mlflow, board]) as store:
        run_id = store.start_run("hfl", {"rounds": 4}, name="gappy")
        for number in (1, 2, 3, 4):
            down["now"] = number >= 2
            store.log_round(run_id, number, {"accuracy": number / 10}, 1.0, 3, 0)
        store.finish_run(run_id, "completed", {"accuracy": 0.4})  # still down at the end
    down["now"] = False
    (running,) = _mlflow_runs(uri, run_id)
    assert _steps(uri, running.info.run_id, "accuracy") == [(1, 0.1)]
    for target, location in (("mlflow", uri), ("tensorboard", str(tmp_path / "tb"))):
        for _ in range(2):  # twice: mirroring again adds nothing
            result = _runs_mirror(run_id, target, location, tmp_path / "runs.db")
            assert result.exit_code == 0, result.output
    (run,) = _mlflow_runs(uri, run_id)
    assert _steps(uri, run.info.run_id, "accuracy") == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    summary = _client(uri).get_metric_history(run.info.run_id, "summary.accuracy")
    assert Counter(m.step for m in summary) == {4: 1}
    assert run.info.status == "FINISHED"
    with RunStore(tmp_path / "runs.db", read_only=True) as recorded:
        folder = board.folder_for(recorded, recorded.get_run(run_id))
    accumulator = _board(folder)
    for tag in accumulator.Tags()["scalars"]:
        assert [e.step for e in accumulator.Scalars(tag)] == [1, 2, 3, 4], tag
    assert len(accumulator.Tensors("rengo/summary")) == 1


class Hanging:
    """A mirror whose every call hangs (a tracking server that takes connections and never
    answers, a hung network disk) until ``release`` is set; counts the calls it got."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def open(self, *args: Any) -> None:
        self.calls += 1
        self.release.wait(5)

    round = close = open


def test_a_hanging_mirror_holds_the_run_once_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirrors_base, "MIRROR_TIMEOUT_S", 0.2, raising=False)
    hanging = Hanging()
    try:
        with (
            caplog.at_level(logging.INFO, "rengo.tracking"),
            MirroringStore(tmp_path / "runs.db", mirrors=[hanging]) as store,
        ):
            run_id = store.start_run("hfl", {"rounds": 5}, name="held")
            for number in range(1, 6):
                store.log_round(run_id, number, {"accuracy": 0.5}, 1.0, 2, 0)
            store.finish_run(run_id, "completed")
            assert store.get_run(run_id).status == "completed"
    finally:
        hanging.release.set()
    assert hanging.calls == 1  # not once per round: the run waited for one call only
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 2, said
    assert said[0].startswith(f"Hanging failed to open run {run_id} (MirrorTimeout: no answer")
    assert "mirror_run(store" in said[1]


def test_an_unreachable_mlflow_server_says_so_once_and_names_the_fill_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # each call fails at once
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once the socket is closed
    mirror = MlflowMirror(f"http://127.0.0.1:{port}")
    with (
        caplog.at_level(logging.WARNING, "rengo.tracking"),
        MirroringStore(tmp_path / "runs.db", mirrors=[mirror]) as store,
    ):
        run_id = store.start_run("hfl", {"rounds": 3}, name="offline")
        for number in (1, 2, 3):
            store.log_round(run_id, number, {"accuracy": 0.5}, 1.0, 2, 0)
        store.finish_run(run_id, "completed")
        assert store.get_run(run_id).status == "completed"
    said = [r.getMessage() for r in caplog.records if r.name == "rengo.tracking"]
    assert len(said) == 2, said
    assert said[0].startswith(f"MlflowMirror failed to open run {run_id}")
    assert f"`rengo runs mirror {run_id} --to mlflow` fills it in later" in said[1]


def test_a_mirror_down_for_a_while_is_filled_in_when_the_run_ends(
    tmp_path: Path, mlflow_down: dict[str, bool]
) -> None:
    mlflow, _, uri = _mirrors(tmp_path)
    down = mlflow_down
    with MirroringStore(tmp_path / "runs.db", mirrors=[mlflow]) as store:
        run_id = store.start_run("hfl", {"rounds": 4}, name="blip")
        for number in (1, 2, 3, 4):
            down["now"] = number == 2
            store.log_round(run_id, number, {"accuracy": number / 10}, 1.0, 3, 0)
        store.finish_run(run_id, "completed", {"accuracy": 0.4})
    (run,) = _mlflow_runs(uri, run_id)
    assert _steps(uri, run.info.run_id, "accuracy") == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    assert run.info.status == "FINISHED" and run.data.metrics["summary.accuracy"] == 0.4


MIRRORS = ["--mirror", "mlflow", "--mirror", "tensorboard"]


def test_rengo_run_mirrors_a_vertical_job_with_its_epochs(tmp_path: Path) -> None:
    job = tmp_path / "vertical.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nname = "vertical lr"\nseed = 0\n[vfl]\nalgorithm = "hetero_lr"\n'
        'dataset = "breast_cancer"\nnum_parties = 2\nlabel_party = "clinic"\nkey_bits = 512\n'
        "epochs = 3\n"
    )
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(
        app,
        ["run", str(job), "--store", str(store), "--no-progress", *MIRRORS],
    )
    assert result.exit_code == 0, result.output
    with RunStore(store, read_only=True) as recorded:
        (run,) = recorded.list_runs()
        losses = recorded.round_metrics(run.run_id)["train_loss"]
        folder = TensorBoardMirror(tmp_path / "tensorboard").folder_for(recorded, run)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (mirrored,) = _mlflow_runs(uri, run.run_id)
    assert mirrored.info.status == "FINISHED" and mirrored.data.params["algorithm"] == "hetero_lr"
    got = _steps(uri, mirrored.info.run_id, "train_loss")
    assert got == [(step, pytest.approx(value)) for step, value in losses]
    assert [s for s, _ in got] == [1, 2, 3]
    assert [s for s, _ in _steps(uri, mirrored.info.run_id, "test_auc")] == [3]
    assert [e.step for e in _board(folder).Scalars("train_loss")] == [1, 2, 3]


def test_contribution_values_per_round_and_totals_reach_both_tools(tmp_path: Path) -> None:
    mlflow, board, uri = _mirrors(tmp_path)
    with MirroringStore(tmp_path / "runs.db", mirrors=[mlflow, board]) as store:
        run_id = store.start_run("hfl", {"contribution": {"method": "loo"}}, name="valued")
        for number in (1, 2):
            store.log_round(run_id, number, {"accuracy": 0.5}, 1.0, 2, 0)
            # a tracker values a round once the round is logged
            store.log_contribution(run_id, number, "hospital-a", "loo", 0.25 * number)
            store.log_contribution(run_id, number, "hospital-b", "loo", -0.125)
        store.log_contribution(run_id, None, "hospital-a", "loo", 0.75)
        store.finish_run(run_id, "completed")
        folder = board.folder_for(store, store.get_run(run_id))
    mlflow_id = mlflow.mlflow_run_id(run_id)
    assert mlflow_id is not None
    assert _steps(uri, mlflow_id, "contribution/loo/hospital-a") == [(1, 0.25), (2, 0.5)]
    assert _steps(uri, mlflow_id, "contribution/loo/hospital-b") == [(1, -0.125), (2, -0.125)]
    assert _steps(uri, mlflow_id, "contribution.loo.hospital-a") == [(2, 0.75)]
    accumulator = _board(folder)
    per_round = accumulator.Scalars("contribution/loo/hospital-a")
    assert [(e.step, e.value) for e in per_round] == [(1, 0.25), (2, 0.5)]
    assert [e.step for e in accumulator.Scalars("contribution.loo.hospital-a")] == [2]


def test_runs_mirror_to_a_bad_location_is_a_one_line_error(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {"rounds": 1}, name="nowhere")
        store.log_round(run_id, 1, {"accuracy": 0.5}, 1.0, 2, 0)
        store.finish_run(run_id, "completed")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    for target, location in (("mlflow", "nosuch://x"), ("tensorboard", str(not_a_folder))):
        result = _runs_mirror(run_id, target, location, tmp_path / "runs.db")
        assert result.exit_code == 2, result.output
        said = " ".join(result.output.split())
        assert said.startswith(f"error: could not mirror run {run_id} to {target} at "), said
        assert "Traceback" not in said and "check --uri" in said


def test_rengo_run_mirrors_to_the_mlflow_tracking_uri_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = f"sqlite:///{tmp_path / 'team' / 'mlflow.db'}"  # stands in for http://mlflow:5000
    (tmp_path / "team").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    job = _iris_job(tmp_path, "shared")
    store = tmp_path / "runs" / "runs.db"
    result = CliRunner().invoke(
        app, ["run", str(job), "--store", str(store), "--no-progress", "--mirror", "mlflow"]
    )
    assert result.exit_code == 0, result.output
    with RunStore(store, read_only=True) as recorded:
        (run,) = recorded.list_runs()
    (mirrored,) = _mlflow_runs(server, run.run_id)
    assert [s for s, _ in _steps(server, mirrored.info.run_id, "central_accuracy")] == [1, 2]
    assert not (store.parent / "mlflow.db").exists()


def test_rengo_run_mirrors_where_each_mirror_option_says(tmp_path: Path) -> None:
    """`rengo run` could mirror only beside the store (or to $MLFLOW_TRACKING_URI): a team's
    tracking server or a shared TensorBoard folder needed a second command (`runs mirror
    --uri`). `--mirror NAME=WHERE` names the place."""
    server = f"sqlite:///{tmp_path / 'team' / 'mlflow.db'}"  # stands in for http://mlflow:5000
    (tmp_path / "team").mkdir()
    boards = tmp_path / "shared-boards"
    job = _iris_job(tmp_path, "placed")
    store = tmp_path / "runs" / "runs.db"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(job),
            "--store",
            str(store),
            "--no-progress",
            "--mirror",
            f"mlflow={server}",
            "--mirror",
            f"tensorboard={boards}",
        ],
    )
    assert result.exit_code == 0, result.output
    with RunStore(store, read_only=True) as recorded:
        (run,) = recorded.list_runs()
        folder = TensorBoardMirror(boards).folder_for(recorded, run)
    (mirrored,) = _mlflow_runs(server, run.run_id)
    assert [s for s, _ in _steps(server, mirrored.info.run_id, "central_accuracy")] == [1, 2]
    assert [e.step for e in _board(folder).Scalars("central_accuracy")] == [1, 2]
    assert not (store.parent / "mlflow.db").exists()
    assert not (store.parent / "tensorboard").exists()


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("mlflow=", "--mirror 'mlflow=': give the tracking URI after '=', or no '='"),
        ("tensorboard= ", "give the log folder after '='"),
        ("wandb=http://x", "choose one of mlflow, tensorboard"),
    ],
)
def test_a_mirror_option_without_a_place_or_with_an_unknown_name_is_refused_before_training(
    tmp_path: Path, given: str, said: str
) -> None:
    job = _iris_job(tmp_path, "refused")
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(
        app, ["run", str(job), "--store", str(store), "--no-progress", "--mirror", given]
    )
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split())
    assert not store.exists()  # nothing was recorded
