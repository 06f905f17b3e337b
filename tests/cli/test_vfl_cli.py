"""`rengo vfl align`: parties' CSVs come out aligned on their shared IDs, in one order."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from rengo.cli.main import app


def _table(path: Path, ids: list[str], column: str) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", column])
        for i in ids:
            writer.writerow([i, f"{column}-{i}"])


def test_align_writes_shared_rows_in_one_order(tmp_path: Path):
    _table(tmp_path / "bank.csv", ["a", "b", "c", "d"], "balance")
    _table(tmp_path / "telco.csv", ["d", "x", "b", "a"], "usage")
    result = CliRunner().invoke(
        app,
        [
            "vfl",
            "align",
            f"bank={tmp_path / 'bank.csv'}",
            f"telco={tmp_path / 'telco.csv'}",
            "--out",
            str(tmp_path / "out"),
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {p: list(csv.reader((tmp_path / "out" / f"{p}.csv").open())) for p in ("bank", "telco")}
    bank_ids = [r[0] for r in rows["bank"][1:]]
    assert bank_ids == [r[0] for r in rows["telco"][1:]]
    assert sorted(bank_ids) == ["a", "b", "d"]
    assert all(r[1] == f"usage-{r[0]}" for r in rows["telco"][1:])


def test_align_rejects_malformed_arguments(tmp_path: Path):
    result = CliRunner().invoke(app, ["vfl", "align", "only-one-party.csv"])
    assert result.exit_code == 2 and "PARTY=path.csv" in result.output
