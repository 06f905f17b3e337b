"""A vertical job's ``[vfl.selection]``: the federated IV step drops the low-IV columns of
every party before training, training still runs on the kept ones, the run records every
column's IV (``rengo runs show`` lists them), and bad settings are refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib
from iv_job_tables import job_text, tables
from rich.console import Console
from transcript_search import decoded_leaves, plain_numbers
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError, DataError
from rengo.jobs import build_vertical_job, parse_job, run_vertical_job
from rengo.jobs.iv_selection import select_columns
from rengo.tracking import RunStore
from rengo.tracking.tables import run_detail


@pytest.mark.parametrize("algorithm", ["hetero_lr", "secureboost"])
def test_selection_drops_the_low_iv_columns_and_training_still_runs(
    tmp_path: Path, algorithm: str
) -> None:
    tables(tmp_path)
    built = build_vertical_job(
        parse_job(tomllib.loads(job_text(tmp_path, "min_iv = 0.3", algorithm)))
    )
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(built, store, log=lambda _m: None)
        run = store.get_run(result["run_id"])
        shown = Console(width=200, record=True)
        shown.print(run_detail(store, result["run_id"]))
    assert built.train.feature_names == {"bank": ("income",), "telco": ("late_payments",)}
    # each party trained on its kept column (its table itself holds every column: the run
    # dropped the others after PSI, and scoring drops them from the held-out rows too)
    assert built.model.kept_columns_ == {"bank": (0,), "telco": (0,)}
    assert result["auc"] > 0.9
    record = run.summary["iv_selection"]
    kept = {c["name"]: c["kept"] for c in record["columns"]}
    assert kept == {"income": True, "bank_noise": False, "late_payments": True,
                    "telco_noise": False, "region_code": False}  # fmt: skip
    assert record["min_iv"] == 0.3 and run.config["selection"]["min_iv"] == 0.3
    text = shown.export_text()
    # every setting in effect, the least rows of a bin included though the job left it
    # to its default (max(5, 0.5% of 600 rows) = 5)
    assert record["min_bin_rows"] == 5 and "min_bin_rows" not in run.config["selection"]
    assert "selection by IV (min_iv = 0.3, max_bin = 10)" in text
    assert "min_bin_rows = 5 (default), adjustment_factor = 0.5" in text
    assert "region_code" in text and "dropped" in text


def test_top_k_keeps_the_largest_ivs_across_parties(tmp_path: Path) -> None:
    tables(tmp_path)
    built = build_vertical_job(parse_job(tomllib.loads(job_text(tmp_path, "top_k = 3"))))
    run_vertical_job(built, log=lambda _m: None)
    kept = {p: set(n) for p, n in built.train.feature_names.items()}
    assert kept["bank"] >= {"income"} and kept["telco"] >= {"late_payments"}
    assert sum(len(n) for n in kept.values()) == 3 and "region_code" not in kept["telco"]


def test_the_selection_steps_transcript_carries_no_label_host_value_or_name(
    tmp_path: Path,
) -> None:
    cols = tables(tmp_path)
    built = build_vertical_job(parse_job(tomllib.loads(job_text(tmp_path, "min_iv = 0.3"))))
    assert built.spec.vfl is not None and built.spec.vfl.selection is not None
    result = select_columns(built.train, built.spec.vfl.selection, key_bits=512, seed=1)
    to_telco = [e for e in result.transcript if e.receiver == "telco"]
    to_bank = [e for e in result.transcript if e.receiver == "bank"]
    assert to_telco and to_bank
    wire = b"".join(e.payload for e in to_telco)
    for dtype in (np.float64, np.int64, np.uint8, np.bool_):
        assert cols["y"].astype(dtype).tobytes() not in wire
    for entry in to_telco:
        for v in decoded_leaves(entry):
            if isinstance(v, np.ndarray) and v.shape == cols["y"].shape and v.std() > 0:
                assert abs(np.corrcoef(v.astype(float), cols["y"])[0, 1]) < 0.999
    back = b"".join(e.payload for e in to_bank)
    numbers = set(plain_numbers(to_bank).tolist())
    telco = built.train.parties["telco"].features  # as the job scaled them
    for value in telco.ravel():
        assert np.float64(value).tobytes() not in back and float(value) not in numbers
    for name in ("late_payments", "telco_noise", "region_code"):
        assert name.encode() not in back


def test_a_party_left_without_columns_is_refused_by_name(tmp_path: Path) -> None:
    tables(tmp_path)
    built = build_vertical_job(parse_job(tomllib.loads(job_text(tmp_path, "min_iv = 50.0"))))
    with pytest.raises(
        DataError, match=r"selection by IV \(vfl.selection.min_iv = 50.0\) keeps no column of bank"
    ):
        run_vertical_job(built, log=lambda _m: None)
    built = build_vertical_job(parse_job(tomllib.loads(job_text(tmp_path, "top_k = 1"))))
    with pytest.raises(DataError, match=r"\(vfl.selection.top_k = 1\) keeps no column of bank"):
        run_vertical_job(built, log=lambda _m: None)


@pytest.mark.parametrize(
    ("selection", "match"),
    [
        ("max_bin = 8", "min_iv, top_k or both"),
        ("min_iv = -0.1", "vfl.selection.min_iv"),
        ("top_k = 0", "vfl.selection.top_k"),
        ("min_iv = 0.1\nbins = 4", "bins"),
        ("min_iv = 0.1\nmin_bin_rows = 0", "vfl.selection.min_bin_rows"),
    ],
)
def test_bad_selection_settings_are_refused_naming_the_key(
    tmp_path: Path, selection: str, match: str
) -> None:
    tables(tmp_path)
    with pytest.raises(ConfigError, match=match):
        parse_job(tomllib.loads(job_text(tmp_path, selection)))


def test_rengo_run_then_runs_show_lists_every_columns_iv(tmp_path: Path) -> None:
    tables(tmp_path)
    (tmp_path / "job.toml").write_text(job_text(tmp_path, "min_iv = 0.3"))
    store = str(tmp_path / "r.db")
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(tmp_path / "job.toml"), "--store", store])
    assert ran.exit_code == 0, ran.output
    assert "selection by IV kept 2 of 5 columns" in ran.output
    shown = runner.invoke(app, ["runs", "show", "latest", "--store", store])
    assert shown.exit_code == 0, shown.output
    assert "late_payments" in shown.output and "telco_noise" in shown.output


def test_runs_job_writes_the_selection_back_and_the_written_job_repeats_it(
    tmp_path: Path,
) -> None:
    """Before, ``rengo runs job`` failed: the unset top_k was recorded as None, which TOML
    cannot hold."""
    tables(tmp_path)
    (tmp_path / "job.toml").write_text(job_text(tmp_path, "min_iv = 0.3"))
    store = str(tmp_path / "r.db")
    runner = CliRunner()
    assert runner.invoke(app, ["run", str(tmp_path / "job.toml"), "--store", store]).exit_code == 0
    back = tmp_path / "back.toml"
    wrote = runner.invoke(app, ["runs", "job", "latest", "--store", store, "--out", str(back)])
    assert wrote.exit_code == 0, wrote.output
    spec = parse_job(tomllib.loads(back.read_text()))
    assert spec.vfl is not None and spec.vfl.selection is not None
    assert spec.vfl.selection.min_iv == 0.3 and spec.vfl.selection.top_k is None


@pytest.mark.parametrize("algorithm", ["hetero_lr", "secureboost"])
def test_a_label_party_holding_only_the_labels_selects_and_trains(
    tmp_path: Path, algorithm: str
) -> None:
    """It has no column to keep: only the feature parties' columns are selected (it was
    refused as 'keeps no column of bank', naming a rule it could not meet)."""
    tables(tmp_path)
    bank = np.genfromtxt(tmp_path / "bank.csv", delimiter=",", names=True)
    np.savetxt(tmp_path / "bank.csv", np.c_[bank["id"], bank["defaulted"]], delimiter=",",
               comments="", header="id,defaulted", fmt="%.10g")  # fmt: skip
    built = build_vertical_job(
        parse_job(tomllib.loads(job_text(tmp_path, "min_iv = 0.0", algorithm)))
    )
    result = run_vertical_job(built, log=lambda _m: None)
    assert built.train.parties["bank"].features.shape[1] == 0
    assert built.train.feature_names["telco"] == ("late_payments", "telco_noise", "region_code")
    assert result["auc"] > 0.8  # telco's late_payments alone
    (tmp_path / "job.toml").write_text(
        job_text(tmp_path, "min_iv = 0.0").split("[vfl.selection]")[0]
    )
    ran = CliRunner().invoke(app, ["vfl", "iv", str(tmp_path / "job.toml")])
    assert ran.exit_code == 0, ran.output
    assert "late_payments" in ran.output and "information value (max_bin = 10)" in ran.output


def test_runs_show_names_a_zero_min_iv_in_the_selection_title() -> None:
    from rengo.tracking.iv_selection_table import iv_selection_table

    column = {"party": "bank", "name": "income", "iv": 0.5, "kept": True}
    record = {"min_iv": 0.0, "max_bin": 10, "columns": [column]}
    table = iv_selection_table(record)
    assert table is not None and table.title == "selection by IV (min_iv = 0.0, max_bin = 10)"


def test_the_jobs_min_bin_rows_merges_bins_before_iv(tmp_path: Path) -> None:
    """Bins of fewer rows than the training set (every bin) merge into one: every IV is 0."""
    tables(tmp_path)
    (tmp_path / "job.toml").write_text(job_text(tmp_path, "top_k = 5\nmin_bin_rows = 600"))
    ran = CliRunner().invoke(app, ["vfl", "iv", str(tmp_path / "job.toml")])
    assert ran.exit_code == 0, ran.output
    assert ran.output.count("0.0000") == 5 and ran.output.count(" yes ") == 5


def test_selection_reuses_trainings_psi_instead_of_running_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, selection aligned the rows by a PSI of its own, then training ran PSI again:
    three sessions in a job that trains and scores. Now the selection step runs on the rows
    training's PSI shared: one session to train, one for the held-out rows."""
    from rengo.vfl.psi import protocol

    sessions: list[str] = []
    lead = protocol._lead

    def counted(channel: Any, *args: Any, **kwargs: Any) -> Any:
        sessions.append(channel.key("x"))
        return lead(channel, *args, **kwargs)

    monkeypatch.setattr(protocol, "_lead", counted)
    tables(tmp_path)
    built = build_vertical_job(parse_job(tomllib.loads(job_text(tmp_path, "min_iv = 0.3"))))
    run_vertical_job(built, log=lambda _m: None)
    assert sessions == ["train/psi/x", "score/psi/x"]


@pytest.mark.parametrize(("given", "in_effect"), [("", 5), ("min_bin_rows = 40", 40)])
def test_the_record_holds_the_min_bin_rows_in_effect_its_default_included(
    tmp_path: Path, given: str, in_effect: int
) -> None:
    """Before, a job that left min_bin_rows to its default (max(5, 0.5% of the rows))
    recorded none: the run's record did not say which bins were merged."""
    tables(tmp_path)
    spec = parse_job(tomllib.loads(job_text(tmp_path, f"min_iv = 0.3\n{given}")))
    assert spec.vfl is not None and spec.vfl.selection is not None
    built = build_vertical_job(spec, shared_rows_later=False)
    result = select_columns(built.train, spec.vfl.selection, key_bits=512, seed=1)
    record = result.record(spec.vfl.selection)
    assert record["min_bin_rows"] == in_effect
    assert "min_bin_rows_default" not in record  # the run's config says it: not twice


def test_runs_show_prints_column_names_as_written_never_as_markup() -> None:
    """Before, a column named ``x[/]`` raised MarkupError in ``rengo runs show`` and
    ``amount[usd]`` printed as ``amount``."""
    from rengo.tracking.iv_selection_table import iv_selection_table

    record = {
        "min_iv": 0.3,
        "columns": [
            {"party": "bank", "column": 0, "name": "amount[usd]", "iv": 0.5, "kept": True},
            {"party": "bank", "column": 1, "name": "x[/]", "iv": 0.1, "kept": False},
        ],
    }
    table = iv_selection_table(record)
    assert table is not None
    shown = Console(width=120, record=True)
    shown.print(table)
    text = shown.export_text()
    assert "amount[usd]" in text and "x[/]" in text


def test_predict_refuses_a_table_of_another_column_count_than_training(tmp_path: Path) -> None:
    """Before, ``predict`` checked only that the highest kept column existed: telco's table
    with a column added in front (4 columns, kept column 0) was scored on the wrong column.
    The same layout as in training scores."""
    from rengo.vfl import HeteroLogisticRegression
    from rengo.vfl.selection_settings import SelectionSettings

    cols = tables(tmp_path)
    ids = np.arange(1000, 1000 + len(cols["y"]))
    bank = np.c_[cols["income"], cols["bank_noise"]]
    telco = np.c_[cols["late_payments"], cols["telco_noise"], cols["region_code"]]
    model = HeteroLogisticRegression(key_bits=512, epochs=2, seed=1)
    model.fit({"bank": (ids, bank), "telco": (ids, telco)}, "bank", cols["y"],
              selection=SelectionSettings(min_iv=0.3))  # fmt: skip
    assert model.kept_columns_ == {"bank": (0,), "telco": (0,)}
    ok = model.predict_raw({"bank": (ids[:50], bank[:50]), "telco": (ids[:50], telco[:50])})
    assert len(ok.ids) == 50
    wider = np.c_[cols["telco_noise"], telco]
    with pytest.raises(DataError, match=r"telco's model was trained on columns \[0\] of its 3 "):
        model.predict_raw({"bank": (ids, bank), "telco": (ids, wider)})
