"""A trained model leaves the run store intact: the exported arrays are the run's final model,
named as the job's model names them, and load into that PyTorch module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError, DataError
from rengo.hfl import CheckpointRetention, History, simulate, softmax_predict
from rengo.jobs import (
    build_hfl_job,
    build_vertical_job,
    model_state_dict,
    parse_job,
    run_vertical_job,
)
from rengo.tracking import RunStore, run_detail
from rengo.tracking.column_importance import FEATURE_NAMES
from rengo.tracking.model_export import (
    load_model,
    load_vertical_parts,
    named_parameters,
    vertical_parts_blob,
    write_model,
)

JOB = """
[job]
name = "export-me"
seed = 2
rounds = 3
[data]
dataset = "iris"
[partition]
num_clients = 2
[model]
type = "{model}"
hidden = [8]
[train]
batch_size = 16
"""


def _run(tmp_path: Path, model: str) -> tuple[Path, Path, History]:
    job_path = tmp_path / "job.toml"
    job_path.write_text(JOB.format(model=model))
    from rengo.jobs import load_job

    spec = load_job(job_path)
    job = build_hfl_job(spec)
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        history = simulate(
            job.client_fn,
            job.client_ids,
            job.strategy,
            job.initial_parameters,
            3,
            store=store,
            run_config={"job_file": str(job_path)},
            run_name="export-me",
            checkpoints=CheckpointRetention(keep_last=3),  # every round, to export round 1
        )
    return store_path, job_path, history


def test_checkpoint_round_trips_to_npz_with_the_jobs_names(tmp_path: Path) -> None:
    store_path, _, history = _run(tmp_path, "logistic")
    with RunStore(store_path, read_only=True) as store:
        snapshot = load_model(store, history.run_id)  # type: ignore[arg-type]
        assert snapshot.round == 3 and snapshot.strategy == "FedAvg"
        for got, want in zip(snapshot.parameters, history.parameters, strict=True):
            np.testing.assert_array_equal(got, want)
        earlier = load_model(store, history.run_id, round=1)  # type: ignore[arg-type]
        assert earlier.round == 1
        with pytest.raises(DataError, match=r"no checkpoint for round 9 \(it has: 1, 2, 3\)"):
            load_model(store, history.run_id, round=9)  # type: ignore[arg-type]
    result = CliRunner().invoke(
        app,
        [
            "runs",
            "export",
            history.run_id,
            "--store",
            str(store_path),
            "--out",  # type: ignore[list-item]
            str(tmp_path / "model"),
            "--format",
            "npz",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "names from the logistic" in " ".join(result.output.split())
    with np.load(tmp_path / "model.npz") as exported:
        assert list(exported) == ["weight", "bias"]
        W, b = history.parameters
        np.testing.assert_array_equal(exported["weight"], W.T)  # nn.Linear(d, k) layout
        np.testing.assert_array_equal(exported["bias"], b)


@pytest.mark.torch
def test_logistic_state_dict_loads_into_a_linear_layer_with_the_same_predictions(
    tmp_path: Path,
) -> None:
    torch = pytest.importorskip("torch")
    store_path, _, history = _run(tmp_path, "logistic")
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(
        app,
        [
            "runs",
            "export",
            history.run_id,
            "--store",
            str(store_path),
            "--out",
            str(out),  # type: ignore[list-item]
            "--format",
            "torch",
        ],
    )
    assert result.exit_code == 0, result.output
    state = torch.load(out, weights_only=True)
    W, _ = history.parameters
    layer = torch.nn.Linear(W.shape[0], W.shape[1]).double()
    layer.load_state_dict(state)
    X = np.random.default_rng(0).normal(size=(20, W.shape[0]))
    predicted = layer(torch.from_numpy(X)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(predicted, softmax_predict(history.parameters, X))


@pytest.mark.torch
def test_mlp_names_are_make_mlps_and_the_state_dict_loads_strictly(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from rengo.hfl.torch_client import make_mlp, set_parameters

    store_path, job_path, history = _run(tmp_path, "mlp")
    out = tmp_path / "mlp.pt"
    result = CliRunner().invoke(
        app,
        [
            "runs",
            "export",
            history.run_id,
            "--store",
            str(store_path),
            "--out",
            str(out),  # type: ignore[list-item]
            "--format",
            "torch",
            "--job",
            str(job_path),
        ],
    )
    assert result.exit_code == 0, result.output
    d, k = history.parameters[0].shape[1], history.parameters[-1].shape[0]
    fresh, reference = make_mlp(d, k, (8,)), make_mlp(d, k, (8,))
    state = torch.load(out, weights_only=True)
    assert list(state) == list(fresh.state_dict())
    fresh.load_state_dict(state, strict=True)
    set_parameters(reference, history.parameters)
    X = torch.from_numpy(np.random.default_rng(1).normal(size=(5, d)).astype(np.float32))
    torch.testing.assert_close(fresh(X), reference(X))


def test_state_dict_names_checks_shapes() -> None:
    W1, b1, W2, b2 = np.zeros((8, 4)), np.zeros(8), np.zeros((3, 8)), np.zeros(3)
    assert list(model_state_dict("mlp", [W1, b1, W2, b2], hidden=[8])) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    with pytest.raises(DataError, match="hidden widths"):
        model_state_dict("mlp", [W1, b1, W2, b2], hidden=[16])
    with pytest.raises(DataError, match="takes 5 inputs"):
        model_state_dict("mlp", [W1, b1, np.zeros((3, 5)), b2])
    with pytest.raises(DataError, match="softmax regression"):
        model_state_dict("logistic", [W1, np.zeros(5)])
    with pytest.raises(ConfigError, match="unknown model type"):
        model_state_dict("cnn", [W1])
    with pytest.raises(ConfigError, match="2 names for 1"):
        named_parameters([W1], ["a", "b"])
    with pytest.raises(ConfigError, match="unknown export format"):
        write_model({"a": W1}, "x.bin", "onnx")


def test_a_run_without_job_gets_generic_names(tmp_path: Path) -> None:
    spec = parse_job(
        {
            "data": {"dataset": "iris"},
            "partition": {"num_clients": 2},
            "model": {"type": "logistic"},
        }
    )
    job = build_hfl_job(spec)
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            job.client_fn, job.client_ids, job.strategy, job.initial_parameters, 1, store=store
        )
    result = CliRunner().invoke(
        app,
        [
            "runs",
            "export",
            history.run_id,
            "--store",
            str(tmp_path / "runs.db"),  # type: ignore[list-item]
            "--out",
            str(tmp_path / "m.npz"),
        ],
    )
    assert result.exit_code == 0 and "generic names" in " ".join(result.output.split())
    with np.load(tmp_path / "m.npz") as exported:
        assert list(exported) == ["param_0", "param_1"]


def test_vertical_parts_are_exported_per_party_and_score_like_the_model(tmp_path: Path) -> None:
    spec = parse_job(
        {
            "job": {"name": "v", "kind": "vfl", "seed": 0},
            "vfl": {"dataset": "breast_cancer", "num_parties": 2, "key_bits": 512, "epochs": 2},
        }
    )
    vjob = build_vertical_job(spec)
    with RunStore(tmp_path / "runs.db") as store:
        run_id = run_vertical_job(vjob, store, log=lambda _: None)["run_id"]
        parts = load_vertical_parts(store, run_id)
        with pytest.raises(DataError, match="holds a vertical model"):
            load_model(store, run_id)
    coefficients = vjob.model.coefficients()
    assert parts.label_party == vjob.train.label_party and set(parts.parts) == set(coefficients)
    for name, weights in coefficients.items():
        np.testing.assert_array_equal(parts.parts[name], weights)
    assert parts.intercept == vjob.model.guest_model_.intercept
    out = tmp_path / "parts"
    result = CliRunner().invoke(
        app, ["runs", "export", run_id, "--store", str(tmp_path / "runs.db"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir())
    models = [f"{name}.npz" for name in coefficients]
    assert files == sorted([*models, *(f"{m}.inputs.npz" for m in models)])
    with np.load(out / f"{parts.label_party}.npz") as guest:
        # each weight row named by its column, the label party's file naming the classes
        assert list(guest) == ["weight", "intercept", "feature", "classes"]
        assert guest["feature"].shape[0] == guest["weight"].shape[0]
        assert guest["intercept"][0] == parts.intercept
    # The exported parts score *raw* rows as the trained model does: each party's columns
    # were z-scored with its own training statistics, which the export hands over (before,
    # it did not, and raw rows scored up to 0.92 away from the model's own scores).
    ids, scores = vjob.model.predict_scores(vjob.test)
    logits = np.full(len(ids), parts.intercept)
    for name, table in vjob.test.parties.items():
        position = {key: i for i, key in enumerate(map(str, table.ids))}
        rows = [position[str(i)] for i in ids]
        scaler = vjob.scalers[name]
        raw = table.features[rows] * scaler.scale + scaler.mean
        with np.load(out / f"{name}.npz") as part, np.load(out / f"{name}.npz.inputs.npz") as s:
            logits += ((raw - s["mean"]) / s["scale"]) @ part["weight"]
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), scores, rtol=1e-6, atol=1e-6)
    assert "(X - mean) / scale" in " ".join(result.output.split())


def test_a_deployed_vertical_run_says_its_parts_live_at_the_parties(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {})
        store.finish_run(run, "completed")
    result = CliRunner().invoke(
        app, ["runs", "export", run, "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "each party's weights stay at that party" in said
    assert "rengo vfl party --model FILE" in said  # where each party keeps its own


def test_a_splitnn_run_stored_before_its_model_was_kept_is_told_to_run_again(
    tmp_path: Path,
) -> None:
    """It advised 'fit its estimator in Python and pickle it', later to train the job
    deployed: a simulated SplitNN run keeps its party documents now, so a run without them
    predates that and is told to run the job again (never to pickle)."""
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl", {"kind": "vfl", "algorithm": "splitnn"})
        store.finish_run(run, "completed")
    result = CliRunner().invoke(
        app, ["runs", "export", run, "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "pickle" not in said and "made by a rengo that did not store them" in said, said
    assert "run the job again" in said


def test_runs_show_of_a_deployed_vertical_run_says_its_model_is_kept_at_each_party(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {})
        store.finish_run(run, "completed")
        console = Console(width=200, record=True)
        console.print(run_detail(store, run))
    assert "model     kept at each party (`rengo vfl party --model FILE`)" in console.export_text()


def test_a_standardised_horizontal_jobs_export_hands_over_its_input_scaling(
    tmp_path: Path,
) -> None:
    """A job z-scores its features by default (data.standardize = true); the exported model
    expects z-scored rows, and the export did not say with what (raw digits scored 0.78
    where z-scored ones scored 0.97)."""
    from rengo.data import load_dataset
    from rengo.jobs import build_federation, load_job

    job_path = tmp_path / "job.toml"
    job_path.write_text(JOB.format(model="logistic"))
    store = tmp_path / "runs.db"
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(job_path), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store) as s:
        (run,) = s.list_runs()
    out = tmp_path / "model.npz"
    exported = runner.invoke(
        app, ["runs", "export", run.run_id, "--store", str(store), "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    assert "score raw rows as (X - mean) / scale" in " ".join(exported.output.split())
    scaler = build_federation(load_job(job_path)).standardization
    assert scaler is not None
    with np.load(tmp_path / "model.npz.inputs.npz") as inputs:
        np.testing.assert_array_equal(inputs["mean"], scaler.mean)
        np.testing.assert_array_equal(inputs["scale"], scaler.scale)
    iris = load_dataset("iris")
    assert not np.allclose(scaler.mean, 0) and iris.num_features == len(scaler.mean)


def test_an_export_keeps_existing_files_and_says_so_in_one_line(tmp_path: Path) -> None:
    """Export replaced a user's files without asking, wrote ``models.npz`` beside an
    existing folder ``models`` instead of inside it, and answered an unwritable target or a
    folder named like a file (``v1.2``) with a 40-line traceback."""
    job_path = tmp_path / "job.toml"
    job_path.write_text(JOB.format(model="logistic"))
    store = tmp_path / "runs.db"
    runner = CliRunner(env={"COLUMNS": "300"})
    ran = runner.invoke(app, ["run", str(job_path), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store) as s:
        (run,) = s.list_runs()
        recorded = s.get_run(run.run_id).config["job_file"]
    assert recorded == str(job_path.resolve())  # not relative to wherever the run started

    def export(out: Path, *extra: str) -> Any:
        return runner.invoke(
            app, ["runs", "export", run.run_id, "--store", str(store), "--out", str(out), *extra]
        )

    precious = tmp_path / "precious.npz"
    precious.write_bytes(b"the user's own data")
    refused = export(precious)
    assert refused.exit_code == 2 and "already exists; give --overwrite" in refused.output
    assert precious.read_bytes() == b"the user's own data"
    assert not (tmp_path / "precious.npz.inputs.npz").exists()  # nothing written at all
    assert export(precious, "--overwrite").exit_code == 0
    with np.load(precious) as model:
        assert "weight" in model
    folder = tmp_path / "v1.2"
    folder.mkdir()
    into = export(folder)
    assert into.exit_code == 0, into.output
    assert (folder / f"{run.run_id}.npz").is_file() and not (tmp_path / "v1.npz").exists()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder should be")
    nowhere = export(blocked / "model.npz")
    assert nowhere.exit_code == 2 and "cannot write to" in nowhere.output
    assert "Traceback" not in nowhere.output


def test_every_path_that_runs_a_job_records_its_input_scaling_and_runs_show_shortens_it(
    tmp_path: Path,
) -> None:
    """rengo run, rengo coordinator and the demo all record through HflJob.run_config (the
    demo's and the deployed coordinator's runs recorded none); `runs show` shows a long
    value shortened, the store keeps it whole."""
    from rengo.jobs import load_job
    from rengo.tracking import run_detail
    from rengo.tracking.model_export import input_scaling

    job_path = tmp_path / "job.toml"
    job_path.write_text(JOB.format(model="mlp"))
    job = build_hfl_job(load_job(job_path))
    config = job.run_config({"model": "mlp"})
    scaling = input_scaling(config)
    assert scaling is not None and job.federation.standardization is not None
    np.testing.assert_array_equal(scaling.mean, job.federation.standardization.mean)
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {**config, "long": "x" * 1000})
        console = Console(width=200, record=True)
        console.print(run_detail(store, run_id))
        assert store.get_run(run_id).config["long"] == "x" * 1000
    assert "... (1000 characters)" in console.export_text()


def test_a_deployed_runs_export_says_whose_preprocessing_its_scaling_is(tmp_path: Path) -> None:
    """A deployed run records its coordinator job's standardisation, which parties serving
    their own apps (`rengo party --app`) never applied: the export told a user to score
    patients with it, without a word."""
    from rengo.core.codec import encode
    from rengo.jobs import load_job

    job_path = tmp_path / "job.toml"
    job_path.write_text(JOB.format(model="logistic"))
    job = build_hfl_job(load_job(job_path))
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        run_id = store.start_run("hfl-deployed", job.run_config({"model": "logistic"}))
        blob = encode(
            {"format": 2, "round": 1, "parameters": job.initial_parameters, "strategy": {},
             "strategy_name": "FedAvg", "excluded": {}, "observers": {}}
        )  # fmt: skip
        store.save_checkpoint(run_id, 1, blob)
        store.finish_run(run_id, "completed")
    out = tmp_path / "model.npz"
    exported = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["runs", "export", run_id, "--store", str(store_path), "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    said = " ".join(exported.output.split())
    assert "score raw rows as (X - mean) / scale" in said
    assert "a party serving its own app (`--app`) preprocessed its rows itself" in said


def test_a_vertical_export_names_weight_rows_from_the_run_summary_of_an_older_run(
    tmp_path: Path,
) -> None:
    """A vertical run's column names live in its summary (``feature_names``, what ``rengo
    runs importance`` reads): the export names each weight row from there, so a run whose
    checkpoint holds no names of its own (every run stored before exports named them) gets
    its ``feature`` arrays too; a party without recorded names gets none."""
    blob = vertical_parts_blob(
        3, "guest", {"guest": np.array([0.5, -1.0]), "host": np.array([2.0])}, 0.25
    )
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl", {"algorithm": "hetero_lr"})
        store.save_checkpoint(run, 3, blob)
        store.finish_run(run, "completed", {FEATURE_NAMES: {"guest": ["age", "income"]}})
        parts = load_vertical_parts(store, run)
    states = parts.named_state_dicts()
    assert states["guest"]["feature"].tolist() == ["age", "income"]
    assert "feature" not in states["host"]
    result = CliRunner().invoke(
        app, ["runs", "export", run, "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    guest = np.load(tmp_path / "guest.npz", allow_pickle=False)
    assert guest["feature"].tolist() == ["age", "income"]
    np.testing.assert_array_equal(guest["weight"], [0.5, -1.0])


def test_a_vertical_export_refuses_recorded_names_that_miss_a_weight_row(tmp_path: Path) -> None:
    """Names by position that do not cover each weight row would name the wrong row."""
    blob = vertical_parts_blob(1, "guest", {"guest": np.array([0.5, -1.0])}, 0.0)
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl", {"algorithm": "hetero_lr"})
        store.save_checkpoint(run, 1, blob)
        store.finish_run(run, "completed", {FEATURE_NAMES: {"guest": ["age"]}})
        with pytest.raises(DataError, match="column names, but not one for each"):
            load_vertical_parts(store, run)
