"""Transfer-learning job files: which rows each side trains on and scores, an unlabelled
target, and labels on the wrong side."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core import ConfigError, DataError
from rengo.jobs import build_vertical_job, load_job
from rengo.jobs.vertical import held_out
from rengo.tracking import RunStore

pytest.importorskip("torch")

SOURCE_ROWS = range(0, 350)
TARGET_ROWS = range(200, 569)


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _tables(folder: Path, *, target_labels: bool, source_labels: bool = True) -> None:
    """The breast-cancer table split by columns: the source 'bank' (10 columns, rows 0-349)
    and the target 'shop' (20 columns, rows 200-568), each with or without a 'y' column
    (the target's labelled on every fourth row)."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    ids = [f"p{i:04d}" for i in range(len(x))]
    bank_y = ["y"] if source_labels else []
    _write(
        folder / "bank.csv",
        ["id", *(f"a{j}" for j in range(10)), *bank_y],
        [[ids[i], *x[i, :10], *([int(y[i])] if source_labels else [])] for i in SOURCE_ROWS],
    )
    shop_y = ["y"] if target_labels else []
    _write(
        folder / "shop.csv",
        ["id", *(f"b{j}" for j in range(20)), *shop_y],
        [
            [ids[i], *x[i, 10:], *([int(y[i]) if i % 4 == 0 else ""] if target_labels else [])]
            for i in TARGET_ROWS
        ],
    )


def _job(folder: Path, extra: str = "", label_party: str = "bank") -> Path:
    job = folder / "ftl.toml"
    job.write_text(
        f'[job]\nkind = "vfl"\nseed = 0\n[vfl]\nalgorithm = "ftl"\nlabel_party = "{label_party}"\n'
        'label = "y"\nid_column = "id"\ntest_size = 0.2\nsecurity = "plaintext"\nepochs = 1\n'
        f'{extra}[vfl.parties]\nbank = "bank.csv"\nshop = "shop.csv"\n'
    )
    return job


def _held(rows: range) -> np.ndarray:
    return held_out(np.array([f"p{i:04d}" for i in rows]), 0, 0.2)


@pytest.mark.parametrize("later", [True, False])
def test_the_source_holds_out_the_customers_the_target_holds_out(
    tmp_path: Path, later: bool
) -> None:
    """By default the source holds out every customer the held-out rule marks among its rows
    (it cannot tell which of them the target has), so none the target scores trains it."""
    _tables(tmp_path, target_labels=True)
    job = build_vertical_job(load_job(_job(tmp_path)), shared_rows_later=later)
    source_held = int(_held(SOURCE_ROWS).sum())
    assert len(job.train.parties["bank"].ids) == len(SOURCE_ROWS) - source_held
    trained = set(map(str, job.train.parties["bank"].ids))
    assert not trained & set(map(str, job.test.parties["shop"].ids))
    shop_held = int(_held(TARGET_ROWS).sum())
    assert len(job.test.parties["shop"].ids) == shop_held
    assert len(job.train.parties["shop"].ids) == len(TARGET_ROWS) - shop_held


def test_a_job_may_train_the_source_on_every_labelled_row(tmp_path: Path) -> None:
    _tables(tmp_path, target_labels=True)
    job = build_vertical_job(load_job(_job(tmp_path, "source_holds_out = false\n")))
    assert len(job.train.parties["bank"].ids) == len(SOURCE_ROWS)
    assert len(job.test.parties["bank"].ids) == 0


def _held_out_scores(folder: Path, extra: str) -> dict[str, float]:
    job = build_vertical_job(load_job(_job(folder, extra)), shared_rows_later=False)
    job.model.fit(job.train)
    ids, scores = job.model.predict_raw(job.test)
    return dict(zip(map(str, ids), np.asarray(scores, dtype=float).tolist(), strict=True))


def _flip_source_labels(folder: Path, ids: set[str]) -> None:
    with (folder / "bank.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    flipped = [[*r[:-1], str(1 - int(r[-1]))] if r[0] in ids else r for r in rows[1:]]
    _write(folder / "bank.csv", rows[0], flipped)


@pytest.mark.parametrize("extra", ["", "source_holds_out = true\n"])
def test_the_source_labels_of_held_out_customers_change_no_held_out_score(
    tmp_path: Path, extra: str
) -> None:
    """The source trained on every labelled row, its held-out customers' labels too: flipping
    the source labels of the customers the target holds out moved their scores by up to
    0.027 (AUC 0.989 -> 1.0), so the held-out metrics were optimistic."""
    _tables(tmp_path, target_labels=True)
    before = _held_out_scores(tmp_path, extra)
    shared_held = set(before) & {f"p{i:04d}" for i in SOURCE_ROWS}
    assert shared_held  # the test flips some labels
    _flip_source_labels(tmp_path, shared_held)
    assert _held_out_scores(tmp_path, extra) == before


def test_training_the_source_on_every_row_lets_held_out_labels_move_scores(
    tmp_path: Path,
) -> None:
    """source_holds_out = false is the leak the option's help warns of (and this shows the
    test above can fail)."""
    _tables(tmp_path, target_labels=True)
    before = _held_out_scores(tmp_path, "source_holds_out = false\n")
    _flip_source_labels(tmp_path, set(before) & {f"p{i:04d}" for i in SOURCE_ROWS})
    assert _held_out_scores(tmp_path, "source_holds_out = false\n") != before


def test_source_holds_out_false_is_refused_where_every_party_holds_out(tmp_path: Path) -> None:
    _tables(tmp_path, target_labels=False)
    (tmp_path / "lr.toml").write_text(
        '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "bank"\nsource_holds_out = false\n'
        '[vfl.parties]\nbank = "bank.csv"\nshop = "shop.csv"\n'
    )
    with pytest.raises(ConfigError, match="source_holds_out = false is for transfer learning"):
        load_job(tmp_path / "lr.toml")


def test_an_unlabelled_target_trains_on_every_row_and_the_run_scores_them(
    tmp_path: Path,
) -> None:
    """A target without a label column (the usual transfer case) was refused: 'shop scores
    the held-out rows but its table has no 'y' column to evaluate them with'."""
    _tables(tmp_path, target_labels=False)
    job = _job(tmp_path)
    built = build_vertical_job(load_job(job))
    assert len(built.train.parties["shop"].ids) == len(TARGET_ROWS)  # none held out
    store = tmp_path / "runs.db"
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(store)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        f"scored all {len(TARGET_ROWS)} of shop's customers (no 'y' labels: not evaluated" in said
    )
    with RunStore(store) as runs:
        (run,) = runs.list_runs()
        assert run.status == "completed"
        summary = run.summary or {}
    assert summary["scored_customers"] == len(TARGET_ROWS)
    assert summary["test_rows"] == 0 and "auc" not in summary
    out = tmp_path / "model"
    exported = CliRunner().invoke(
        app, ["runs", "export", run.run_id, "--out", str(out), "--store", str(store)]
    )
    assert exported.exit_code == 0, exported.output
    assert sorted(p.name for p in out.iterdir()) == ["bank.json", "shop.json"]


def test_an_unlabelled_target_scores_as_the_python_api_does(tmp_path: Path) -> None:
    """The job's scores of the target's rows are TransferClassifier's of the same tables,
    fitted with target_labels=None."""
    from rengo.ftl import TransferClassifier

    _tables(tmp_path, target_labels=False)
    job = build_vertical_job(load_job(_job(tmp_path)), shared_rows_later=False)
    job.model.fit(job.train, labels=None)
    ids, scores = job.model.predict_raw(job.test)
    bank, shop = job.train.parties["bank"], job.train.parties["shop"]
    assert job.train.labels is not None
    api = TransferClassifier(security="plaintext", epochs=1, seed=0)
    api.fit(
        {"bank": (bank.ids, bank.features), "shop": (shop.ids, shop.features)},
        source="bank",
        y=job.train.labels,
    )
    proba = api.predict_proba((shop.ids, shop.features))
    order = {str(i): k for k, i in enumerate(shop.ids)}
    assert len(ids) == len(TARGET_ROWS)
    np.testing.assert_allclose(
        np.asarray(scores), proba[[order[str(i)] for i in ids], 1], rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("later", [True, False])
def test_labels_at_the_target_only_name_the_parties_the_column_and_the_side(
    tmp_path: Path, later: bool
) -> None:
    """It said only '.../bank.csv: no label column 'y'; columns are [...]'."""
    _tables(tmp_path, target_labels=True, source_labels=False)
    with pytest.raises(DataError) as info:
        build_vertical_job(load_job(_job(tmp_path)), shared_rows_later=later)
    said = str(info.value)
    assert said.startswith("bank is the label party ([vfl] label_party), but its table ")
    assert "has no 'y' column, which shop's table has: the labels are on the wrong side" in said
    assert "transfer learning's label party is the source, with a label on every row" in said
    assert "Set label_party = 'shop'" in said


def test_a_job_naming_the_unlabelled_target_as_label_party_names_the_source(
    tmp_path: Path,
) -> None:
    _tables(tmp_path, target_labels=False)
    with pytest.raises(DataError, match=r"^shop is the label party .* which bank's table has"):
        build_vertical_job(load_job(_job(tmp_path, label_party="shop")))


@pytest.mark.parametrize("later", [True, False])
def test_a_target_named_as_label_party_with_its_few_labels_names_the_labelled_source(
    tmp_path: Path, later: bool
) -> None:
    """Labels in both tables, the job's label party the one with blanks: it said only
    '.../shop.csv:2: label is missing (''); every row needs a label (... affected)'."""
    _tables(tmp_path, target_labels=True)
    with pytest.raises(DataError) as info:
        build_vertical_job(load_job(_job(tmp_path, label_party="shop")), shared_rows_later=later)
    said = str(info.value)
    assert said.startswith("shop, the label party ([vfl] label_party), has rows without a 'y': ")
    assert "label is missing" in said and "bank's table has 'y' too" in said
    assert said.endswith("If bank is the labelled source, set label_party = 'bank'")


def test_a_hetero_lr_job_with_the_label_at_the_feature_party_names_both(tmp_path: Path) -> None:
    _tables(tmp_path, target_labels=True, source_labels=False)
    (tmp_path / "lr.toml").write_text(
        '[job]\nkind = "vfl"\n[vfl]\nlabel_party = "bank"\n'
        '[vfl.parties]\nbank = "bank.csv"\nshop = "shop.csv"\n'
    )
    with pytest.raises(DataError) as info:
        build_vertical_job(load_job(tmp_path / "lr.toml"))
    said = str(info.value)
    assert "which shop's table has: the labels are on the wrong side (only the label party" in said


def test_resuming_a_run_of_the_earlier_default_names_source_holds_out(tmp_path: Path) -> None:
    """A run checkpointed while the source trained on every row (the default before) was
    refused with 'training table changed ...: resume with the same table', though the
    table had not changed: the default had."""
    from rengo.jobs import run_vertical_job

    _tables(tmp_path, target_labels=True)
    earlier = build_vertical_job(load_job(_job(tmp_path, "source_holds_out = false\n")))
    earlier.model.set_params(checkpoints=str(tmp_path / "ck"))
    run_vertical_job(earlier, log=lambda _: None)
    job = build_vertical_job(load_job(_job(tmp_path)))
    job.model.set_params(checkpoints=str(tmp_path / "ck"), resume=True)
    with pytest.raises(DataError, match="training table changed") as caught:
        run_vertical_job(job, log=lambda _: None)
    said = str(caught.value)
    assert "source_holds_out" in said and "resumes with source_holds_out = false" in said


@pytest.mark.parametrize(
    ("algorithm", "source_labels", "expected"),
    [
        ("hetero_lr", False, "bank.csv: no label column 'y'"),
        ("ftl", False, "bank.csv: no label column 'y'"),
        ("ftl", True, "bank.csv:2: label is missing"),
    ],
)
def test_a_deployed_party_reads_no_other_partys_table(
    tmp_path: Path, algorithm: str, source_labels: bool, expected: str
) -> None:
    """A deployed party's job file names the other parties' paths on their machines: its
    own label error was replaced by '.../shop.csv: cannot read: No such file or directory'."""
    from rengo.jobs.vertical import party_data

    _tables(tmp_path, target_labels=True, source_labels=False)
    if source_labels:  # a 'y' column, blank on some rows
        with (tmp_path / "bank.csv").open(newline="") as handle:
            rows = list(csv.reader(handle))
        _write(
            tmp_path / "bank.csv",
            [*rows[0], "y"],
            [[*r, "" if k % 9 == 0 else str(k % 2)] for k, r in enumerate(rows[1:])],
        )
    elsewhere = tmp_path / "on-the-shops-machine" / "shop.csv"
    (tmp_path / "job.toml").write_text(
        f'[job]\nkind = "vfl"\nseed = 0\n[vfl]\nalgorithm = "{algorithm}"\nlabel_party = "bank"\n'
        'label = "y"\nid_column = "id"\ntest_size = 0.2\n'
        f'[vfl.parties]\nbank = "bank.csv"\nshop = "{elsewhere}"\n'
    )
    spec = load_job(tmp_path / "job.toml")
    assert spec.vfl is not None
    with pytest.raises(DataError, match=expected) as info:
        party_data(spec.vfl, "bank", 0, shared_rows_later=True)
    assert "shop" not in str(info.value)


def test_a_deployed_unlabelled_target_reports_that_it_evaluated_none(tmp_path: Path) -> None:
    """It sent no report, so the coordinator recorded no test_rows and the card said 'the
    run predates rengo recording it'; the simulated run records test_rows 0."""
    from rengo.deploy.held_out_report import ScoredRowsEvaluation, record_held_out
    from rengo.jobs.vertical import job_plan
    from rengo.tracking.run_card import model_card

    _tables(tmp_path, target_labels=False)
    spec = load_job(_job(tmp_path))
    plan = job_plan(spec)
    ids = np.array([f"p{i:04d}" for i in TARGET_ROWS])
    evaluation = ScoredRowsEvaluation(dict.fromkeys(ids.tolist()), np.dtype(object))
    sent = evaluation.to_send(plan, None, ids, np.full(len(ids), 0.5))
    assert sent == {"rows": 0, "metrics": {}, "reliability": None}
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("vfl-deployed", {"algorithm": "ftl", "label_party": "bank"}) as run:
            run.summary["scored_rows"] = len(ids)
            record_held_out(store, run.run_id, plan, run.summary, sent, "shop", print)
        (info,) = store.list_runs()
        assert (info.summary or {})["test_rows"] == 0
        card = model_card(store, info.run_id)
    assert "predates" not in card and "every party holds them" not in card
    assert "| held-out share (test_size) | 0.2 |" not in card
