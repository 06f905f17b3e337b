"""``rengo rewards export`` and ``rengo runs metrics`` for a spreadsheet: ``--excel`` starts
the file with a UTF-8 byte-order mark (Excel on Windows reads a file without one in its own
code page), ``--delimiter ';' --decimal ,`` for a locale that writes 0,5; by default the
bytes scripts parse, without a mark."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})
MARK = b"\xef\xbb\xbf"


@pytest.fixture
def paid_store(tmp_path: Path) -> tuple[Path, str]:
    """A run store with one run whose ledger pays J\u00fcrgen and Zo\u00eb."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {}, name="fed")
        store.log_round(run, 1, {"accuracy": 0.75}, 0.5, 2, 0)
        for who, value in (("J\u00fcrgen", 0.3), ("Zo\u00eb", 0.1)):
            store.log_contribution(run, None, who, "gtg", value)
        store.finish_run(run, "completed")
    paid = runner.invoke(
        app, ["rewards", "pay", run, "--budget", "100.00", "--currency", "EUR",
              "--store", str(path)],
    )  # fmt: skip
    assert paid.exit_code == 0, paid.output
    return path, run


def _export(store: Path, run: str, out: Path, *options: str) -> bytes:
    result = runner.invoke(
        app, ["rewards", "export", run, "--csv", str(out), "--store", str(store), *options]
    )
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_a_ledger_exported_for_a_german_excel_has_the_mark_semicolons_and_decimal_commas(
    paid_store: tuple[Path, str], tmp_path: Path
):
    store, run = paid_store
    data = _export(store, run, tmp_path / "de.csv", "--excel", "--delimiter", ";",
                   "--decimal", ",")  # fmt: skip
    assert data.startswith(MARK + b"run;round;participant;kind;amount;")
    lines = data[len(MARK) :].decode("utf-8").splitlines()
    amounts = {line.split(";")[2]: line.split(";")[4] for line in lines[1:]}
    assert amounts == {"J\u00fcrgen": "75,00", "Zo\u00eb": "25,00"}


def test_a_ledger_exported_by_default_has_no_mark_and_the_same_cells(
    paid_store: tuple[Path, str], tmp_path: Path
):
    store, run = paid_store
    plain = _export(store, run, tmp_path / "plain.csv")
    excel = _export(store, run, tmp_path / "excel.csv", "--excel")
    assert not plain.startswith(MARK) and plain.startswith(b"run,round,participant,")
    assert excel == MARK + plain


def test_runs_metrics_for_excel_and_json_refusing_the_csv_options(
    paid_store: tuple[Path, str], tmp_path: Path
):
    store, run = paid_store
    out = tmp_path / "rounds.csv"
    args = ["runs", "metrics", run, "--store", str(store)]
    written = runner.invoke(app, [*args, "-o", str(out), "--excel", "--delimiter", ";",
                                  "--decimal", ","])  # fmt: skip
    assert written.exit_code == 0, written.output
    lines = out.read_bytes().decode("utf-8-sig").splitlines()
    assert out.read_bytes().startswith(MARK) and lines[0].startswith("run_id;run_name;round;")
    assert lines[1].split(";")[2:] == ["1", "0,5", "2", "0", "0,75"]
    json_out = tmp_path / "runs.json"
    refused = runner.invoke(app, [*args, "-o", str(json_out), "--excel"])
    assert refused.exit_code == 2 and "JSON takes none" in refused.output, refused.output
    assert not json_out.exists()
