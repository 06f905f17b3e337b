"""The steps the tournament CLI tests share: open round 1 of a tournament on the bundled
breast-cancer data, and submit a participant's predictions for its live ids."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import typer
from typer.testing import CliRunner, Result

from rengo.cli.tournament import tournament_app

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
app.add_typer(tournament_app, name="tournament")


def open_round(tmp_path: Path) -> tuple[list[str], list[str]]:
    """Open round 1 of a tournament in ``tmp_path``; its ``--state`` option and live ids."""
    state = ["--state", str(tmp_path / "t.json")]
    opened = runner.invoke(
        app,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2",
         "--store", str(tmp_path / "runs.db"), *state],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    with (tmp_path / "t-round1-live.csv").open(newline="", encoding="utf-8") as f:
        return state, [r["id"] for r in csv.DictReader(f)]


def submit_predictions(
    tmp_path: Path,
    state: list[str],
    name: str,
    ids: Sequence[str],
    values: Sequence[float],
    stake: str,
) -> Result:
    """Write ``name``'s predictions (``ids`` with ``values``) and submit them at ``stake``."""
    path = tmp_path / f"{name}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "prediction"])
        writer.writerows(zip(ids, values, strict=True))
    return runner.invoke(
        app,
        ["tournament", "submit", "--participant", name, "--predictions", str(path),
         "--stake", stake, *state],
    )  # fmt: skip
