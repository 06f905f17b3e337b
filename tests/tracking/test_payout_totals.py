"""Payout totals over many runs: exact sums of the ledger, whatever each line's decimals."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore, payout_totals

runner = CliRunner(env={"COLUMNS": "200"})


def _paid_run(store: RunStore, lines: list[tuple[str, int | str, int | None]]) -> str:
    run_id = store.start_run("hfl", {})
    for participant, amount, decimals in lines:
        store.append_ledger(
            run_id, None, participant, "reward", amount, "test", "credits", decimals
        )
    store.finish_run(run_id, "completed")
    return run_id


def test_a_thousand_payouts_of_ten_cents_add_up_to_exactly_one_hundred(
    store: RunStore,
) -> None:
    runs = [_paid_run(store, [("a", 10, 2)]) for _ in range(1000)]
    assert sum([0.10] * 1000) != 100.0  # what adding floats would show
    (total,) = payout_totals(store, runs).totals
    assert (total.participant, total.amount_minor, total.decimals) == ("a", 10_000, 2)
    assert (len(total.runs), total.lines) == (1000, 1000)


def test_lines_of_other_decimals_are_added_at_the_finest_without_rounding(
    store: RunStore,
) -> None:
    cents = _paid_run(store, [("a", 3334, 2), ("b", 3333, 2), ("c", 3333, 2)])
    basis_points = _paid_run(store, [("a", 3333, 4), ("b", -1, 4)])  # 0.3333 and a burn
    text = _paid_run(store, [("c", "0.5", None)])  # a line written as decimal text
    found = payout_totals(store, [cents, basis_points, text])
    got = {t.participant: (t.amount_minor, t.decimals, t.lines) for t in found.totals}
    assert got == {"a": (336_733, 4, 2), "b": (333_299, 4, 2), "c": (33_83, 2, 2)}
    assert found.currency_sums() == [("credits", 336_733 + 333_299 + 338_300, 4)]
    assert found.runs == [cents, basis_points, text] and found.unreadable == 0


def test_a_run_without_ledger_lines_adds_nothing(store: RunStore) -> None:
    unpaid = store.start_run("hfl", {})
    store.finish_run(unpaid, "completed")
    found = payout_totals(store, [unpaid])
    assert (found.totals, found.runs) == ([], [])


def test_rewards_totals_prints_each_participants_sum_over_the_runs_it_picks(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        first = _paid_run(store, [("bank", 3334, 2), ("card", 3333, 2), ("telecom", 3333, 2)])
        _paid_run(store, [("bank", 5000, 2), ("insurer", 5000, 2)])  # telecom expelled
    everything = runner.invoke(app, ["rewards", "totals", "--store", str(path)])
    assert everything.exit_code == 0, everything.output
    rows = {
        line.split()[1]: line.split()[3]
        for line in everything.output.splitlines()
        if "│" in line and "credits" in line
    }
    assert rows == {
        "bank": "83.34",
        "card": "33.33",
        "telecom": "33.33",
        "insurer": "50.00",
        "(all)": "200.00",
    }
    one = runner.invoke(app, ["rewards", "totals", first, "--store", str(path)])
    assert one.exit_code == 0 and "Payouts over 1 paid run(s)" in one.output
    assert "insurer" not in one.output and "100.00" in one.output


def test_rewards_totals_counts_the_runs_its_filters_picked_when_none_was_paid(
    tmp_path: Path,
) -> None:
    """With filters that pick no run, it counted every run in the store as chosen."""
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        _paid_run(store, [("bank", 100, 2)])
        _paid_run(store, [("card", 100, 2)])
    none = runner.invoke(app, ["rewards", "totals", "--kind", "vfl", "--store", str(path)])
    assert none.exit_code == 0, none.output
    assert "no ledger lines in the 0 run(s) chosen" in none.output
