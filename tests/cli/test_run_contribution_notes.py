"""The contribution table ``rengo run`` prints as a valued run ends carries the report's
notes, as ``rengo rewards show`` does: an operator reading only the run's output used to see
a sampled value's unknown error (or clients merged for identical updates) nowhere."""

from __future__ import annotations

from rich.console import Console

from rengo.cli.run_job import print_contribution
from rengo.jobs import ContributionSettings
from rengo.valuation import ContributionReport, RoundContribution


def test_the_run_s_contribution_table_prints_the_report_s_notes() -> None:
    note = "round 1: clients ['a', 'b'] sent identical updates; valued as one player"
    report = ContributionReport(
        "gtg",
        {"a": 0.1, "b": 0.1},
        (RoundContribution(1, {"a": 0.1, "b": 0.1}, 3),),
        3,
        0,
        score_name="test accuracy",
        notes=(note,),
    )
    console = Console(record=True, width=200)
    print_contribution(console, "run-1", report, [], ContributionSettings(method="gtg"))
    text = " ".join(console.export_text().split())
    assert f"note: {note}" in text
    assert "recorded; pay with `rengo rewards pay run-1 --budget 1000.00`" in text
