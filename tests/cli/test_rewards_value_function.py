"""``rengo rewards show`` and ``pay`` say what the values measure and how they were
computed, and each ledger line names the score it paid a contribution to: a treasurer who
defends a payout to a hospital's finance office has to say what the contribution is a
contribution *to* (they used to read only "gtg contribution 0.112208")."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from typer.testing import CliRunner

from rengo.cli.rewards import rewards_app
from rengo.tracking import RunStore, record_contributions
from rengo.valuation import ContributionReport, RoundContribution

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
app.add_typer(rewards_app, name="rewards")


def _valued_run(path: Path) -> str:
    rounds = (
        RoundContribution(1, {"north": 0.3, "south": 0.1}, 12, 8, stopped_by="2 samples"),
        RoundContribution(2, {"north": 0.05, "south": 0.05}, 9, 8, stopped_by="2 samples"),
    )
    report = ContributionReport(
        "gtg", {"north": 0.35, "south": 0.15}, rounds, 21, 16, score_name="test accuracy"
    )
    with RunStore(path) as store:
        run = store.start_run("hfl", {}, name="hospitals")
        store.finish_run(run, "completed")
        record_contributions(store, run, report)
    return run


def test_show_pay_and_the_ledger_say_what_the_values_are_contributions_to(
    tmp_path: Path,
) -> None:
    store = tmp_path / "runs.db"
    run = _valued_run(store)
    shown = runner.invoke(app, ["rewards", "show", run, "--store", str(store)])
    assert shown.exit_code == 0, shown.output
    valued = "valued: gtg on test accuracy, 2 rounds: 21 coalition models evaluated, 16 "
    assert valued in " ".join(shown.output.split())
    paid = runner.invoke(app, ["rewards", "pay", run, "--budget", "1000.00", "--store", str(store)])
    assert paid.exit_code == 0, paid.output
    assert valued in " ".join(paid.output.split())
    ledger = tmp_path / "ledger.csv"
    exported = runner.invoke(
        app, ["rewards", "export", run, "--csv", str(ledger), "--store", str(store)]
    )
    assert exported.exit_code == 0, exported.output
    with ledger.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["participant"], r["amount"]) for r in rows] == [
        ("north", "700.00"),
        ("south", "300.00"),
    ]
    assert "gtg contribution to test accuracy 0.35: 70.00% of the pool" in rows[0]["reason"]
