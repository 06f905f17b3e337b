"""``rengo vfl iv JOB.toml``: every party's columns' IV, largest first, the kept ones under
the job's ``[vfl.selection]``, and a JSON file of bins, counts, WOE and cut points in the
tables' own units."""

from __future__ import annotations

import json
from pathlib import Path

from iv_job_tables import job_text, tables
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.vfl.secureboost import fit_bins


def test_vfl_iv_lists_every_columns_iv_and_writes_bins_in_the_tables_units(
    tmp_path: Path,
) -> None:
    cols = tables(tmp_path)
    text = job_text(tmp_path, "min_iv = 0.3").split("[vfl.selection]")[0]
    (tmp_path / "job.toml").write_text(text)
    out = tmp_path / "iv.json"
    ran = CliRunner().invoke(
        app, ["vfl", "iv", str(tmp_path / "job.toml"), "--max-bin", "6", "--json", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    lines = ran.output.splitlines()
    order = [n for line in lines for n in cols if n != "y" and f" {n} " in line]
    assert order[:2] == ["late_payments", "income"] and order[-1] == "region_code"
    assert "kept" not in ran.output and "information value (max_bin = 6)" in ran.output
    written = {f["name"]: f for f in json.loads(out.read_text())}
    assert set(written) == {"income", "bank_noise", "late_payments", "telco_noise", "region_code"}
    income = written["income"]
    assert sum(income["events"]) + sum(income["non_events"]) < 600  # the training rows only
    assert len(income["woe"]) == len(income["edges"]) + 2  # value bins, then missing
    raw = cols["income"][:, None]
    assert min(income["edges"]) > raw.min() and max(income["edges"]) < raw.max()
    assert len(income["edges"]) == len(fit_bins(raw, 6, party="t").edges[0])
    # a feature party's cut points too (its own, in its table's units): they were None
    late = written["late_payments"]
    raw = cols["late_payments"][:, None]
    assert len(late["edges"]) == len(fit_bins(raw, 6, party="t").edges[0])
    assert min(late["edges"]) > raw.min() and max(late["edges"]) < raw.max()
    assert written["region_code"]["edges"] == []


def test_vfl_iv_marks_what_the_jobs_selection_keeps(tmp_path: Path) -> None:
    tables(tmp_path)
    (tmp_path / "job.toml").write_text(job_text(tmp_path, "top_k = 2"))
    ran = CliRunner().invoke(app, ["vfl", "iv", str(tmp_path / "job.toml")])
    assert ran.exit_code == 0, ran.output
    assert "selection by IV (top_k = 2, max_bin = 10)" in ran.output
    assert ran.output.count("dropped") == 3 and ran.output.count(" yes ") == 2


def test_vfl_iv_refuses_a_zero_adjustment_factor_by_name(tmp_path: Path) -> None:
    tables(tmp_path)
    (tmp_path / "job.toml").write_text(job_text(tmp_path, "top_k = 2"))
    ran = CliRunner().invoke(
        app, ["vfl", "iv", str(tmp_path / "job.toml"), "--adjustment-factor", "0"]
    )
    assert ran.exit_code != 0 and "adjustment_factor must be a positive number" in ran.output
