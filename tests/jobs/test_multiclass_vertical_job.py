"""A telecom (label: churn reason of four classes) and a bank train one-vs-rest hetero LR
from a vertical job file: ``rengo run`` trains, scores and records the multi-class metrics
(``rengo runs show`` lists them), ``rengo runs export`` writes each party's K class models,
(a weight matrix of one column per class and four intercepts), and a job that leaves
``multi_class`` at ``auto`` is told the option to set."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.jobs import build_vertical_job, load_job, run_vertical_job
from rengo.tracking import RunStore
from rengo.tracking.model_export import load_secureboost
from rengo.vfl import HeteroLogisticRegression

REASONS = ["stayed", "price", "coverage", "service"]

JOB = """
[job]
kind = "vfl"
name = "churn-reason"
seed = 4
[vfl]
algorithm = "hetero_lr"
label_party = "telecom"
label = "reason"
key_bits = 512
epochs = 15
batch_size = 64
learning_rate = 0.2
obfuscator_source = "coordinator"
{extra}
[vfl.parties]
telecom = "telecom.csv"
bank = "bank.csv"
"""


def _tables(folder: Path) -> None:
    """Each reason driven by one of four directions split over both parties' columns."""
    rng = np.random.default_rng(3)
    n = 400
    telecom, bank = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    directions = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 2]], float)
    logits = np.hstack([telecom, bank]) @ directions.T + rng.gumbel(size=(n, 4))
    reason = logits.argmax(axis=1)
    ids = [f"sub-{i:04d}" for i in range(n)]
    with (folder / "telecom.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "dropped_calls", "data_gb", "reason"])
        writer.writerows([ids[i], *telecom[i], REASONS[reason[i]]] for i in range(n))
    with (folder / "bank.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "monthly_spend", "card_payments"])
        writer.writerows([ids[i], *bank[i]] for i in range(n) if i % 17)


def test_rengo_run_trains_one_vs_rest_and_records_the_multiclass_metrics(tmp_path: Path) -> None:
    _tables(tmp_path)
    (tmp_path / "job.toml").write_text(JOB.format(extra='multi_class = "ovr"'))
    store = tmp_path / "r.db"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "job.toml"), "--store", str(store)])
    assert result.exit_code == 0, result.output
    with RunStore(store, read_only=True) as runs:
        (run,) = runs.list_runs()
        metrics = runs.round_metrics(run.run_id)
    for name in ("test_accuracy", "test_macro_f1", "test_log_loss", "test_macro_auc_ovr"):
        assert name in metrics, sorted(metrics)
    assert metrics["test_accuracy"][-1][1] > 0.5  # four classes: a constant scores ~0.25
    assert metrics["test_macro_auc_ovr"][-1][1] > 0.75
    shown = CliRunner().invoke(app, ["runs", "show", run.run_id, "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    assert "macro_auc_ovr" in shown.output and "macro_f1" in shown.output
    exported = CliRunner().invoke(
        app, ["runs", "export", run.run_id, "--out", str(tmp_path / "out"), "--store", str(store)]
    )
    assert exported.exit_code == 0, exported.output
    assert "intercept[k]" in " ".join(exported.output.split())
    telecom, bank = (np.load(tmp_path / "out" / f"{party}.npz") for party in ("telecom", "bank"))
    assert telecom["weight"].shape == (2, 4) and telecom["intercept"].shape == (4,)
    assert bank["weight"].shape == (2, 4) and "intercept" not in bank.files


def _raw_rows(path: Path, columns: list[str]) -> dict[str, np.ndarray]:
    with path.open(newline="") as handle:
        return {
            row["id"]: np.array([float(row[c]) for c in columns]) for row in csv.DictReader(handle)
        }


def test_the_export_names_each_weight_row_and_class_column_and_scores_as_the_run_did(
    tmp_path: Path,
) -> None:
    """``rengo runs export`` of a one-vs-rest run: every party's file names its weight rows
    (``feature``: its CSV columns) and the label party's names the class of each weight
    column (``classes``: the class names in code order), all read back by ``numpy.load``
    without pickle; the files alone (and the raw CSV rows) give the class probabilities the
    run's model gave its held-out rows."""
    _tables(tmp_path)
    (tmp_path / "job.toml").write_text(JOB.format(extra='multi_class = "ovr"'))
    store = tmp_path / "r.db"
    job = build_vertical_job(load_job(tmp_path / "job.toml"))
    run_id = run_vertical_job(job, RunStore(store), log=lambda line: None)["run_id"]
    ids, expected = job.model.predict_raw(job.test)
    exported = CliRunner().invoke(
        app, ["runs", "export", run_id, "--out", str(tmp_path / "out"), "--store", str(store)]
    )
    assert exported.exit_code == 0, exported.output
    assert "column k is class 0: coverage, 1: price, 2: service, 3: stayed" in " ".join(
        exported.output.split()
    )
    files = {
        party: np.load(tmp_path / "out" / f"{party}.npz", allow_pickle=False)
        for party in ("telecom", "bank")
    }
    inputs = {
        party: np.load(tmp_path / "out" / f"{party}.npz.inputs.npz", allow_pickle=False)
        for party in ("telecom", "bank")
    }
    assert files["telecom"]["classes"].tolist() == sorted(REASONS)
    assert "classes" not in files["bank"].files  # the label's classes stay with the telecom
    assert files["telecom"]["feature"].tolist() == ["dropped_calls", "data_gb"]
    assert files["bank"]["feature"].tolist() == ["monthly_spend", "card_payments"]
    raw = {
        party: _raw_rows(tmp_path / f"{party}.csv", files[party]["feature"].tolist())
        for party in ("telecom", "bank")
    }
    scores = np.tile(files["telecom"]["intercept"], (len(ids), 1))
    for party, model in files.items():
        rows = np.array([raw[party][str(i)] for i in ids])
        scaled = (rows - inputs[party]["mean"]) / inputs[party]["scale"]
        scores = scores + scaled @ model["weight"]
    positive = 1.0 / (1.0 + np.exp(-scores))
    np.testing.assert_allclose(positive / positive.sum(axis=1, keepdims=True), expected, atol=1e-9)


def test_a_class_with_no_aligned_training_row_is_left_out_of_the_stored_names(
    tmp_path: Path,
) -> None:
    """A last class (in name order) whose only row has no match at the bank gets no class
    model (K is the largest code among the aligned rows, plus one): the run stores the four
    modelled classes' names, so ``rengo runs export`` and ``rengo runs importance`` read
    its model (a fifth name for four class models made both refuse the run)."""
    _tables(tmp_path)
    with (tmp_path / "telecom.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][0] == "sub-0000"  # not at the bank: 0 % 17 == 0
    rows[1][-1] = "zzz"
    with (tmp_path / "telecom.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    (tmp_path / "job.toml").write_text(JOB.format(extra='multi_class = "ovr"'))
    store = tmp_path / "r.db"
    job = build_vertical_job(load_job(tmp_path / "job.toml"))
    assert job.classes == (*sorted(REASONS), "zzz")
    run_id = run_vertical_job(job, RunStore(store), log=lambda line: None)["run_id"]
    exported = CliRunner().invoke(
        app, ["runs", "export", run_id, "--out", str(tmp_path / "out"), "--store", str(store)]
    )
    assert exported.exit_code == 0, exported.output
    telecom = np.load(tmp_path / "out" / "telecom.npz", allow_pickle=False)
    assert telecom["intercept"].shape == (4,)
    assert telecom["classes"].tolist() == sorted(REASONS)
    importance = CliRunner().invoke(
        app, ["runs", "importance", run_id, "--party", "bank", "--store", str(store)]
    )
    assert importance.exit_code == 0, importance.output
    assert "monthly_spend" in importance.output


def test_a_job_of_four_classes_left_at_auto_is_told_to_set_multi_class(tmp_path: Path) -> None:
    _tables(tmp_path)
    (tmp_path / "job.toml").write_text(JOB.format(extra=""))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "job.toml")])
    assert result.exit_code != 0
    assert "found 4" in result.output and "multi_class = 'ovr'" in result.output


def test_a_recall_target_of_a_multiclass_job_is_refused_naming_it(tmp_path: Path) -> None:
    _tables(tmp_path)
    extra = 'multi_class = "ovr"\ntarget_recall = 0.8'
    (tmp_path / "job.toml").write_text(JOB.format(extra=extra))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "job.toml")])
    assert result.exit_code != 0
    assert "target_recall" in result.output and "binary" in result.output


def test_no_class_name_or_label_leaves_the_telecom(tmp_path: Path) -> None:
    """The job encodes the reasons as class codes at the telecom; what crosses its bus in
    PSI, training and scoring names no class and carries no label array."""
    _tables(tmp_path)
    (tmp_path / "job.toml").write_text(JOB.format(extra='multi_class = "ovr"'))
    job = build_vertical_job(load_job(tmp_path / "job.toml"))
    run_vertical_job(job, log=lambda _m: None)
    model = job.model
    assert isinstance(model, HeteroLogisticRegression) and model.guest_model_.classes == 4
    entries = [
        *model.transcript_,
        *model.predict_bus_.transcript,
        *model.psi_.transcript,
        *model.predict_psi_.transcript,
    ]
    assert {e.sender for e in entries} == {"telecom", "bank", "coordinator"}
    wire = b"".join(e.payload for e in entries)
    for name in REASONS:
        assert name.encode() not in wire and name.encode("utf-16-le") not in wire
    codes = np.asarray(job.train.labels if job.train.labels is not None else [], dtype=np.int64)
    assert len(codes) > 100
    for dtype in (np.int64, np.float64, np.uint8):
        assert codes.astype(dtype).tobytes() not in wire


def test_a_loaded_one_vs_rest_model_is_evaluated_as_class_probabilities_under_a_binary_plan() -> (
    None
):
    """A scoring-only deployed run whose coordinator was not told --multi-class ovr: the
    plan's config says binary, the loaded model scores K columns; the label party evaluates
    what the model scored (it used to print "not evaluated" with a shape error), and no
    binary reliability table is made of them."""
    from rengo.jobs.vertical import held_out_metrics, held_out_reliability
    from rengo.vfl.hetero_lr.config import HeteroLRConfig
    from rengo.vfl.registry import get_algorithm

    truth = np.array([0, 1, 2, 1])
    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    spec, binary = get_algorithm("hetero_lr"), HeteroLRConfig()
    metrics = held_out_metrics(spec, binary, truth, scores, None)
    assert metrics["accuracy"] == 1.0 and set(metrics) >= {"macro_f1", "log_loss"}
    assert held_out_reliability(spec, binary, truth, scores, None) is None


@pytest.mark.parametrize("declared", ["probability", "classes", "values", "probabilities"])
def test_evaluate_reads_a_matrix_of_predictions_as_class_probabilities_whatever_is_declared(
    declared: str,
) -> None:
    """``evaluate``, which every caller goes through, reads a row of K scores per row as
    class probabilities whatever kind the caller names (it computed AUC, accuracy or RMSE
    of the matrix, failing or comparing it elementwise with the labels); one score per row
    stays the declared kind."""
    from rengo.jobs.vertical import class_probability_metrics, evaluate

    truth = np.array([0, 1, 2, 1, 0])
    scores = np.array(
        [[0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.3, 0.2, 0.5], [0.5, 0.4, 0.1], [0.2, 0.5, 0.3]]
    )
    assert evaluate(declared, truth, scores) == class_probability_metrics(truth, scores)
    binary = evaluate("probability", np.array([0, 1, 1, 0]), np.array([0.2, 0.9, 0.6, 0.4]))
    assert binary["auc"] == 1.0 and "accuracy" not in binary


def test_each_partys_csv_header_is_read_once_as_the_job_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building a job whose parties read their rows after PSI (``rengo run``, ``rengo vfl
    party --job``) reads each party's CSV header once, then scans its rows once (it read the
    header three times: once to see whether one-hot columns need a whole read, again in the
    after-PSI reader, and in the scan)."""
    import rengo.jobs.vertical as vertical
    import rengo.vfl.shared_rows as shared_rows

    _tables(tmp_path)
    (tmp_path / "job.toml").write_text(JOB.format(extra='multi_class = "ovr"'))
    headers: list[str] = []
    scans: list[str] = []
    read_header, scan = vertical.csv_header, shared_rows.scan_csv

    def counted_header(path: Any, *args: Any, **kwargs: Any) -> list[str]:
        headers.append(Path(path).name)
        return read_header(path, *args, **kwargs)

    def counted_scan(path: Any, *args: Any, **kwargs: Any) -> Any:
        scans.append(Path(path).name)
        return scan(path, *args, **kwargs)

    monkeypatch.setattr(vertical, "csv_header", counted_header)
    monkeypatch.setattr(shared_rows, "scan_csv", counted_scan)
    job = build_vertical_job(load_job(tmp_path / "job.toml"))
    assert set(job.train.later) == {"telecom", "bank"}  # both read their rows after PSI
    assert sorted(headers) == ["bank.csv", "telecom.csv"], headers
    assert sorted(scans) == ["bank.csv", "telecom.csv"], scans


SECUREBOOST_JOB = """
[job]
kind = "vfl"
name = "churn-reason-trees"
seed = 4
[vfl]
algorithm = "secureboost"
label_party = "telecom"
label = "reason"
key_bits = 512
n_trees = 2
objective = "multiclass"
[vfl.parties]
telecom = "telecom.csv"
bank = "bank.csv"
"""


def test_a_stored_secureboost_model_predicts_its_runs_class_names(tmp_path: Path) -> None:
    """``load_secureboost(store, RUN).estimator()`` predicted the codes 0..3 of the reasons;
    the label party's stored document keeps their names (the bank's keeps none)."""
    _tables(tmp_path)
    (tmp_path / "job.toml").write_text(SECUREBOOST_JOB)
    built = build_vertical_job(load_job(tmp_path / "job.toml"))
    with RunStore(tmp_path / "r.db") as store:
        run_id = run_vertical_job(built, store, log=lambda _m: None)["run_id"]
        stored = load_secureboost(store, run_id)
    assert "classes" not in stored.documents["bank"]
    model = stored.estimator()
    assert model.classes_.tolist() == sorted(REASONS)
    codes = built.model.predict(built.test).values
    np.testing.assert_array_equal(
        model.predict(built.test).values, np.array(sorted(REASONS))[codes]
    )


@pytest.mark.parametrize(
    ("labels", "expected"), [((5, 9, 1, 7), [1, 5, 7, 9]), ((2, 1, 0, 3), None)]
)
def test_a_stored_secureboost_model_of_a_number_label_column_predicts_numbers(
    tmp_path: Path, labels: tuple[int, ...], expected: list[int] | None
) -> None:
    """A label column of numbers is read as text names ("1", "5" ...): the stored model
    predicted those strings, which scikit-learn's metrics refuse beside the int labels a
    user holds. It predicts the numbers; a column of the codes 0..K-1 predicts its codes."""
    _tables(tmp_path)
    path = tmp_path / "telecom.csv"
    rows = list(csv.reader(path.open()))
    named = dict(zip(REASONS, labels, strict=True))
    rows[1:] = [[*row[:-1], str(named[row[-1]])] for row in rows[1:]]
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    (tmp_path / "job.toml").write_text(SECUREBOOST_JOB)
    built = build_vertical_job(load_job(tmp_path / "job.toml"))
    with RunStore(tmp_path / "r.db") as store:
        run_id = run_vertical_job(built, store, log=lambda _m: None)["run_id"]
        model = load_secureboost(store, run_id).estimator()
    got = model.predict(built.test).values
    assert got.dtype.kind == "i"
    codes = built.model.predict(built.test).values
    if expected is None:
        assert model.classes_.tolist() == [0, 1, 2, 3]
        np.testing.assert_array_equal(got, codes)
    else:
        assert model.classes_.tolist() == expected
        np.testing.assert_array_equal(got, np.array(expected)[codes])
