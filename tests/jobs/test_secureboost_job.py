"""SecureBoost as a vertical job file kind: binary, multiclass and regression jobs run,
and its options are checked like every algorithm's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomllib
from rich.console import Console
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core import ConfigError
from rengo.core.errors import DataError
from rengo.jobs import build_vertical_job, parse_job, run_vertical_job
from rengo.tracking import RunStore
from rengo.tracking.model_export import load_secureboost
from rengo.tracking.tables import run_detail
from rengo.vfl.secureboost import HeteroSecureBoost, read_party_model

JOB = """
[job]
kind = "vfl"
name = "sbt"
seed = 3
[vfl]
algorithm = "secureboost"
dataset = "{dataset}"
num_parties = 3
label_party = "label"
key_bits = 512
n_trees = 3
max_depth = 3
{extra}
"""


def job(dataset: str, extra: str = "") -> str:
    return JOB.format(dataset=dataset, extra=extra)


def test_a_secureboost_job_trains_scores_and_records_per_round_losses(tmp_path: Path) -> None:
    built = build_vertical_job(parse_job(tomllib.loads(job("breast_cancer"))))
    assert isinstance(built.model, HeteroSecureBoost) and built.model.n_trees == 3
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(built, store, log=lambda _m: None)
        metrics = store.round_metrics(result["run_id"])
    assert result["auc"] > 0.95 and len(result["losses"]) == 3
    assert "train_loss" in metrics and "test_auc" in metrics


def test_a_jobs_feature_importance_names_the_label_partys_columns_by_their_header() -> None:
    built = build_vertical_job(parse_job(tomllib.loads(job("breast_cancer"))))
    run_vertical_job(built, log=lambda _m: None)
    model = built.model
    assert isinstance(model, HeteroSecureBoost)
    names = set(load_breast_cancer().feature_names)
    own = [i.label for i in model.feature_importances_ if i.label.startswith("label:")]
    assert own and all(label.removeprefix("label:") in names for label in own)


def test_a_secureboost_runs_stored_model_scores_bit_for_bit_as_the_trained_one(
    tmp_path: Path,
) -> None:
    """Before, the store kept no trees: loading said to pickle the estimator instead."""
    built = build_vertical_job(parse_job(tomllib.loads(job("breast_cancer"))))
    with RunStore(tmp_path / "r.db") as store:
        run_id = run_vertical_job(built, store, log=lambda _m: None)["run_id"]
        stored = load_secureboost(store, run_id)
        shown = Console(width=300, record=True)
        shown.print(run_detail(store, run_id))
    assert "model     SecureBoost, 3 trees: the label party label's trees" in shown.export_text()
    assert sorted(stored.documents) == sorted(built.test.parties) and stored.trees == 3
    assert set(stored.scalers) == set(built.test.parties)  # each party's own z-scoring
    guest_entry = stored.documents["label"]  # the label party's store entry
    theirs = [n for tree in guest_entry["trees"] for n in tree if n["owner"] != "label"]
    assert theirs and all(n["threshold"] == "nan" and n["feature"] == -1 for n in theirs)
    assert all("trees" not in d for p, d in stored.documents.items() if p != "label")
    ids, expected = built.model.predict_raw(built.test)
    loaded_ids, got = stored.estimator().predict_raw(built.test)
    assert np.array_equal(loaded_ids, ids) and np.array_equal(got, expected)


def test_rengo_runs_export_writes_each_partys_secureboost_model_and_scaling(
    tmp_path: Path,
) -> None:
    built = build_vertical_job(parse_job(tomllib.loads(job("breast_cancer"))))
    with RunStore(tmp_path / "runs.db") as store:
        run_id = run_vertical_job(built, store, log=lambda _m: None)["run_id"]
    out = tmp_path / "model"
    store_args = ["--store", str(tmp_path / "runs.db"), "--out", str(out)]
    result = CliRunner().invoke(app, ["runs", "export", run_id, *store_args])
    assert result.exit_code == 0, result.output
    parties = sorted(built.test.parties)
    assert sorted(p.name for p in out.glob("*.json")) == [f"{p}.json" for p in parties]
    models = [read_party_model(out / f"{p}.json", party=p) for p in parties]
    loaded = HeteroSecureBoost.from_party_models(models)
    assert np.array_equal(loaded.predict_raw(built.test)[1], built.model.predict_raw(built.test)[1])
    with np.load(out / "label.json.inputs.npz") as scaling:
        assert np.array_equal(scaling["mean"], built.scalers["label"].mean)


def test_files_exported_from_two_runs_are_refused_together(tmp_path: Path) -> None:
    """Exported files named no training run, so one run's label party file and another's
    feature party file were taken together whenever their tree shapes agreed."""
    text = job("breast_cancer")
    runs = []
    with RunStore(tmp_path / "runs.db") as store:
        for seed in (3, 4):
            built = build_vertical_job(
                parse_job(tomllib.loads(text.replace("seed = 3", f"seed = {seed}")))
            )
            runs.append(run_vertical_job(built, store, log=lambda _m: None)["run_id"])
    for k, run_id in enumerate(runs):
        args = ["--store", str(tmp_path / "runs.db"), "--out", str(tmp_path / f"m{k}")]
        assert CliRunner().invoke(app, ["runs", "export", run_id, *args]).exit_code == 0
    parties = sorted(built.test.parties)
    folders = [tmp_path / f"m{k % 2}" for k in range(len(parties))]  # the runs alternate
    mixed = [
        read_party_model(f / f"{p}.json", party=p) for f, p in zip(folders, parties, strict=True)
    ]
    assert [m.training_run for m in mixed] == [runs[k % 2] for k in range(len(parties))]
    with pytest.raises(DataError, match="different training runs") as refused:
        HeteroSecureBoost.from_party_models(mixed)
    # the two runs of one day read apart (a run id's first 8 characters are its date)
    assert runs[0] in str(refused.value) and runs[1] in str(refused.value)


def test_a_multiclass_job_reports_accuracy() -> None:
    built = build_vertical_job(parse_job(tomllib.loads(job("wine", 'objective = "multiclass"'))))
    result = run_vertical_job(built, log=lambda _m: None)
    assert result["accuracy"] > 0.8


def test_a_binary_objective_on_three_classes_names_the_fix() -> None:
    built = parse_job(tomllib.loads(job("wine")))
    with pytest.raises(DataError, match=r"two classes .*objective = 'multiclass'"):
        build_vertical_job(built)


def test_unknown_and_bad_options_are_refused_in_job_vocabulary() -> None:
    with pytest.raises(ConfigError, match="did you mean 'n_trees'"):
        parse_job(tomllib.loads(job("wine", "n_tree = 4")))
    with pytest.raises(ConfigError, match=r"vfl\.max_bin must lie in"):
        parse_job(tomllib.loads(job("wine", "max_bin = 1")))


def test_a_job_that_stops_early_records_the_validation_loss_it_stopped_on(
    tmp_path: Path,
) -> None:
    extra = "learning_rate = 0.5\nvalidation_fraction = 0.3\nn_iter_no_change = 2"
    text = job("breast_cancer", extra).replace("n_trees = 3", "n_trees = 40")
    built = build_vertical_job(parse_job(tomllib.loads(text)))
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(built, store, log=lambda _m: None)
        metrics = store.round_metrics(result["run_id"])
    model = built.model
    assert isinstance(model, HeteroSecureBoost)
    assert model.n_trees_ < 40  # it stopped early, on the held-out loss
    recorded = [value for _round, value in metrics["validation_loss"]]
    assert recorded == pytest.approx(model.validation_losses_)
    assert [r for r, _value in metrics["validation_loss"]] == list(range(1, model.n_trees_ + 1))


def test_runs_export_trees_best_writes_the_best_rounds_ensemble_of_a_run_that_stopped_early(
    tmp_path: Path,
) -> None:
    """Early stopping keeps the trees grown after the best round; before, no export or load
    could leave them out."""
    extra = "learning_rate = 0.9\nvalidation_fraction = 0.3\nn_iter_no_change = 2"
    text = job("breast_cancer", extra).replace("n_trees = 3", "n_trees = 40")
    built = build_vertical_job(parse_job(tomllib.loads(text)))
    with RunStore(tmp_path / "runs.db") as store:
        run_id = run_vertical_job(built, store, log=lambda _m: None)["run_id"]
        stored = load_secureboost(store, run_id)
    model = built.model
    assert isinstance(model, HeteroSecureBoost)
    assert stored.best_round == model.best_round_ < model.n_trees_ == stored.trees
    out = tmp_path / "best"
    args = ["--store", str(tmp_path / "runs.db"), "--out", str(out), "--trees", "best"]
    result = CliRunner().invoke(app, ["runs", "export", run_id, *args])
    assert result.exit_code == 0, result.output
    files = [read_party_model(path) for path in sorted(out.glob("*.json"))]
    loaded = HeteroSecureBoost.from_party_models(files)
    assert loaded.n_trees_ == model.best_round_
    best = model.first_trees(model.best_round_).predict_raw(built.test)[1]
    assert np.array_equal(loaded.predict_raw(built.test)[1], best)
    assert np.array_equal(
        stored.estimator(n_trees=stored.best_round).predict_raw(built.test)[1], best
    )


def test_runs_show_names_the_best_round_of_a_run_that_stopped_early_and_export_trees_checks_n(
    tmp_path: Path,
) -> None:
    """Before, `runs show` said only '16 trees' of a run whose best round was 14, so nothing
    shown told what --trees best keeps, and `runs export --trees 99` answered 'n_trees must be
    in [1, 16]', naming no flag."""
    extra = "learning_rate = 0.9\nvalidation_fraction = 0.3\nn_iter_no_change = 2"
    text = job("breast_cancer", extra).replace("n_trees = 3", "n_trees = 40")
    built = build_vertical_job(parse_job(tomllib.loads(text)))
    with RunStore(tmp_path / "runs.db") as store:
        run_id = run_vertical_job(built, store, log=lambda _m: None)["run_id"]
        shown = Console(width=400, record=True)
        shown.print(run_detail(store, run_id))
    model = built.model
    assert isinstance(model, HeteroSecureBoost) and model.best_round_ < model.n_trees_
    assert f"best round is tree {model.best_round_} " in " ".join(shown.export_text().split())
    too_many = str(model.n_trees_ + 1)
    args = ["--store", str(tmp_path / "runs.db"), "--out", str(tmp_path / "o"), "--trees"]
    result = CliRunner().invoke(app, ["runs", "export", run_id, *args, too_many])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and f"--trees {too_many}: run {run_id} kept" in said
    assert f"best round {model.best_round_})" in said and not (tmp_path / "o").exists()
