"""SecureBoost as a vertical job file kind: binary, multiclass and regression jobs run,
and its options are checked like every algorithm's."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from sklearn.datasets import load_breast_cancer

from rengo.core import ConfigError
from rengo.core.errors import DataError
from rengo.jobs import build_vertical_job, parse_job, run_vertical_job
from rengo.tracking import RunStore
from rengo.tracking.model_export import load_vertical_parts
from rengo.vfl.secureboost import HeteroSecureBoost

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


def test_exporting_a_secureboost_run_says_its_trees_are_not_kept_and_how_to_keep_them(
    tmp_path: Path,
) -> None:
    """Before, it said the run was made by an older rengo and to run the job again, which
    exported nothing either."""
    built = build_vertical_job(parse_job(tomllib.loads(job("breast_cancer"))))
    with RunStore(tmp_path / "r.db") as store:
        run_id = run_vertical_job(built, store, log=lambda _m: None)["run_id"]
        with pytest.raises(DataError, match=r"trained 'secureboost'.*pickle") as caught:
            load_vertical_parts(store, run_id)
    assert "run the job again" not in str(caught.value)


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
