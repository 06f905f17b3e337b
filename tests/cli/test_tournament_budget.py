"""A tournament's budget, as its operator and participants see it: ``open`` says what is
left of it (and warns when none is), ``score`` says when it cut the round's gains, and each
cut gain's ledger line says why it is less than its stake x rate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from rengo.cli.tournament import tournament_app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
app.add_typer(tournament_app, name="tournament")


def _open(tmp_path: Path, *extra: str) -> str:
    opened = runner.invoke(
        app,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2",
         "--store", str(tmp_path / "runs.db"), "--state", str(tmp_path / "t.json"), *extra],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    return opened.output


def _submit_good_predictions(tmp_path: Path, number: int, stakes: dict[str, str]) -> None:
    """Predictions close to the targets (each score far above the clip) for round
    ``number``, one submission per participant of ``stakes``."""
    with (tmp_path / f"t-round{number}-targets.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(number)
    target = np.array([float(r["target"]) for r in rows])
    for name, stake in stakes.items():
        values = np.clip(0.6 * target + 0.4 * rng.random(len(rows)), 0, 1)
        path = tmp_path / f"{name}-{number}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "prediction"])
            writer.writerows(zip([r["id"] for r in rows], values.tolist(), strict=True))
        submitted = runner.invoke(
            app,
            ["tournament", "submit", "--participant", name, "--predictions", str(path),
             "--stake", stake, "--state", str(tmp_path / "t.json")],
        )  # fmt: skip
        assert submitted.exit_code == 0, submitted.output


def _score_and_pay(tmp_path: Path, number: int) -> str:
    state = ["--state", str(tmp_path / "t.json")]
    targets = str(tmp_path / f"t-round{number}-targets.csv")
    scored = runner.invoke(app, ["tournament", "score", "--targets", targets, *state])
    assert scored.exit_code == 0, scored.output
    paid = runner.invoke(app, ["tournament", "pay", *state])
    assert paid.exit_code == 0, paid.output
    return " ".join(scored.output.split())


def test_a_budget_that_cuts_or_stops_the_gains_is_named_at_open_score_and_in_the_ledger(
    tmp_path: Path,
) -> None:
    """Round 1 earns 7.50 credits of gains (5 % of 150.00) from a budget of 6.00: each gain
    is scaled to fit it; round 2 earns 5.00 with nothing left. Before, neither round said a
    word: 4.00 paid on a stake of 100.00 at +5 %, then 0.00."""
    opened = _open(tmp_path, "--budget", "6.00")
    assert "budget: 6.00 credits of 6.00 credits left" in opened
    _submit_good_predictions(tmp_path, 1, {"a": "100.00", "b": "50.00"})
    first = _score_and_pay(tmp_path, 1)
    assert "the gains due this round, 7.50 credits, exceed what is left" in first
    assert "budget, 6.00 credits: the gains are scaled to fit it" in first
    reopened = " ".join(_open(tmp_path).split())
    assert "the tournament's budget of 6.00 credits is spent" in reopened
    _submit_good_predictions(tmp_path, 2, {"a": "100.00"})
    second = _score_and_pay(tmp_path, 2)
    assert "the tournament's budget is spent: the 5.00 credits of gains" in second
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        lines = {(e.round, e.participant): e for e in store.ledger(run_id)}
    assert lines[1, "a"].amount == 400 and lines[1, "b"].amount == 200
    assert "scaled to fit the tournament's budget (600 minor units)" in lines[1, "a"].reason
    assert "this gain is paid 80.00 % of what it was due" in lines[1, "b"].reason
    assert lines[2, "a"].amount == 0
    assert "not paid: the tournament's budget is spent" in lines[2, "a"].reason


def test_a_later_round_cut_by_what_is_left_names_what_is_left_not_the_budget(
    tmp_path: Path,
) -> None:
    """Budget 10.00: round 1's gains (7.50) are paid in full, round 2's (7.50) meet the
    2.50 left. Round 2's permanent ledger lines said "scaled to fit the budget: the gains
    due exceed it", false of a 10.00 budget; they name what was left of it."""
    _open(tmp_path, "--budget", "10.00")
    _submit_good_predictions(tmp_path, 1, {"a": "100.00", "b": "50.00"})
    _score_and_pay(tmp_path, 1)
    _open(tmp_path)
    _submit_good_predictions(tmp_path, 2, {"a": "100.00", "b": "50.00"})
    _score_and_pay(tmp_path, 2)
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        lines = {(e.round, e.participant): e for e in store.ledger(run_id)}
    assert (lines[1, "a"].amount, lines[1, "b"].amount) == (500, 250)
    assert "budget" not in lines[1, "a"].reason
    assert lines[2, "a"].amount + lines[2, "b"].amount == 250
    for who in ("a", "b"):
        reason = lines[2, who].reason
        assert "scaled to fit what was left of the tournament's budget (250 of its 1000" in reason
        assert "fit the budget" not in reason


def test_a_round_its_budget_covers_says_nothing_of_a_cut(tmp_path: Path) -> None:
    """The note is not a fixture of every score: a budget that covers the gains is silent."""
    _open(tmp_path, "--budget", "100.00")
    _submit_good_predictions(tmp_path, 1, {"a": "100.00", "b": "50.00"})
    scored = _score_and_pay(tmp_path, 1)
    assert "budget" not in scored
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        assert all("budget" not in e.reason for e in store.ledger(run_id))
