"""Paying a run: all of a payment's ledger lines or none, once per run whichever command
pays it, the whole budget when somebody contributed, and a CSV export that spares the store."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rengo.core.errors import ConfigError
from rengo.tracking import LedgerLine, RunStore, pay_rewards, write_ledger_csv
from rengo.tracking import store as store_module


def _stop_at_the_second_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Raise KeyboardInterrupt (Ctrl-C, SIGTERM) when the second ledger line is checked,
    after the first is written."""
    real_amount = store_module._amount
    checked = {"amounts": 0}

    def amount(value: Any) -> int | str:
        checked["amounts"] += 1
        if checked["amounts"] == 2:
            raise KeyboardInterrupt
        return real_amount(value)

    monkeypatch.setattr(store_module, "_amount", amount)


def _contributions(store: RunStore, per_round: dict[int, dict[str, float]]) -> str:
    run = store.start_run("hfl", {})
    for number, values in per_round.items():
        for who, value in values.items():
            store.log_contribution(run, number, who, "gtg", value)
    store.finish_run(run, "completed")
    return run


def test_ledger_lines_appended_together_are_all_written_or_none(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = store.start_run("contribution", {})
    lines = [LedgerLine(1, "a", "reward", 100), LedgerLine(1, "b", "reward", 50, "why", "EUR")]
    _stop_at_the_second_line(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        store.append_ledger_lines(run, lines)
    assert store.ledger(run) == []
    monkeypatch.undo()
    numbers = store.append_ledger_lines(run, lines)
    entries = store.ledger(run)
    assert [e.seq for e in entries] == numbers
    assert [(e.participant, e.amount, e.currency) for e in entries] == [
        ("a", 100, "credits"),
        ("b", 50, "EUR"),
    ]


def test_lines_once_per_round_are_refused_where_the_run_is_already_paid(
    store: RunStore,
) -> None:
    """The check and the write are one transaction, so two payers cannot both pass it."""
    run = store.start_run("tournament", {})
    paying = frozenset({"payout", "burn", "reward"})
    store.append_ledger_lines(run, [LedgerLine(1, "a", "payout", 5)], once=paying)
    store.append_ledger_lines(run, [LedgerLine(2, "a", "payout", 5)], once=paying)
    with pytest.raises(ConfigError, match=r"already paid for rounds \[1, 2\]"):
        store.append_ledger_lines(run, [LedgerLine(2, "b", "burn", -5)], once=paying)
    with pytest.raises(ConfigError, match="already paid"):  # a whole-run payment
        store.append_ledger_lines(run, [LedgerLine(None, "b", "reward", 5)], once=paying)
    store.append_ledger_lines(run, [LedgerLine(3, "b", "payout", 5)], once=paying)
    assert [e.round for e in store.ledger(run)] == [1, 2, 3]


def test_interrupted_reward_payment_writes_nothing_and_its_rerun_pays_each_participant_once(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each line was its own transaction: the first stayed, and the rerun was refused as
    'already paid', so the others were never paid."""
    run = store.start_run("hfl", {})
    for who, value in {"a": 0.02, "b": 0.01, "c": 0.03}.items():
        store.log_contribution(run, None, who, "gtg", value)
    _stop_at_the_second_line(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        pay_rewards(store, run, "proportional", 100_000)
    assert store.ledger(run) == []
    monkeypatch.undo()
    pay_rewards(store, run, "proportional", 100_000)
    ledger = store.ledger(run)
    assert Counter(e.participant for e in ledger) == {"a": 1, "b": 1, "c": 1}
    assert sum(int(e.amount) for e in ledger) == 100_000


def test_a_run_a_tournament_paid_is_not_paid_again_by_pay_rewards(store: RunStore) -> None:
    """Only "reward" and "burn" lines counted as paid: a tournament's "payout" lines did not."""
    run = _contributions(store, {1: {"alice": 0.02, "bob": 0.01}})
    store.append_ledger(run, 1, "alice", "payout", 500)  # as `rengo tournament pay` writes
    store.append_ledger(run, 1, "bob", "payout", 500)
    with pytest.raises(ConfigError, match=r"already paid \(2 payout ledger lines\)"):
        pay_rewards(store, run, "proportional", 100_000)
    assert len(store.ledger(run)) == 2


def test_per_round_pays_the_whole_budget_when_one_round_has_no_positive_contributor(
    store: RunStore,
) -> None:
    """Round 2's equal slice of the budget was dropped: half the budget went unpaid."""
    run = _contributions(store, {1: {"a": 0.03, "b": 0.01}, 2: {"a": -0.01, "b": -0.02}})
    payouts = pay_rewards(store, run, "proportional", 100_000, per_round=True)
    assert sum(p.amount_minor for p in payouts) == 100_000
    by_round = Counter[int | None]()
    for e in store.ledger(run):
        by_round[e.round] += int(e.amount)
    assert by_round == {1: 100_000, 2: 0}


def test_per_round_pays_nothing_when_nobody_ever_contributed_positively(
    store: RunStore,
) -> None:
    run = _contributions(store, {1: {"a": -0.03}, 2: {"a": -0.01}})
    payouts = pay_rewards(store, run, "proportional", 100_000, per_round=True)
    assert [p.amount_minor for p in payouts] == [0, 0]


def test_ledger_csv_is_never_written_over_the_run_store(store: RunStore, tmp_path: Path) -> None:
    run = store.start_run("hfl", {})
    store.append_ledger(run, None, "a", "reward", 100)
    for own in (store.path, Path(f"{store.path}-wal")):
        with pytest.raises(ConfigError, match="is the run store"):
            write_ledger_csv(store, [run], own)
    assert [e.amount for e in store.ledger(run)] == [100]
    assert write_ledger_csv(store, [run], tmp_path / "ledger.csv") == 1


@pytest.mark.parametrize("policy", ["proportional", "equal"])
def test_participants_tied_in_every_round_are_paid_at_most_one_unit_apart(
    store: RunStore, policy: str
) -> None:
    """A run of 100 rounds, three clients valued alike in each (as under secure
    aggregation's group-level values), paid 1000.00 round by round: the unit left over each
    round went to 'alice' every time, 1.00 more than 'carol' for the same contribution."""
    run = _contributions(
        store, {t: dict.fromkeys(["alice", "bob", "carol"], 0.01) for t in range(1, 101)}
    )
    pay_rewards(store, run, policy, 100_000, per_round=True)
    totals = Counter[str]()
    for entry in store.ledger(run):
        assert isinstance(entry.amount, int)
        totals[entry.participant] += entry.amount
    assert sum(totals.values()) == 100_000
    assert max(totals.values()) - min(totals.values()) <= 1


def test_per_round_stake_burns_never_add_up_to_more_than_the_stake(store: RunStore) -> None:
    """30 rounds each burning 5 % of one stake burned 150.00 of a 100.00 stake; each round
    now stakes what earlier burns left of it, and the ledger says so."""
    rounds = {t: {"alice": 0.1, "mallory": -0.1} for t in range(1, 31)}
    run = _contributions(store, rounds)
    stakes = {"alice": 10_000, "mallory": 10_000}
    payouts = pay_rewards(store, run, "stake", 100_000, per_round=True, stakes_minor=stakes)
    burned = -sum(p.amount_minor for p in payouts if p.participant == "mallory")
    assert 0 < burned <= 10_000
    reasons = [e.reason or "" for e in store.ledger(run) if e.participant == "mallory"]
    assert reasons[0].endswith("(stake 100.00 credits)")
    assert reasons[1].endswith("(stake 95.00 credits)")
    assert sum(p.amount_minor for p in payouts if p.participant == "alice") == 30 * 500


def test_per_round_stake_lines_name_the_rounds_share_that_cut_them_not_the_budget(
    store: RunStore,
) -> None:
    """80.00 over 2 rounds gives each round 40.00; round 1's gains of 50.00 + 50.00 were
    cut to 20.00 each and the ledger said 'budget=80.00 credits: ... scaled to fit the
    budget: the gains due exceed it' (100.00 + 2.00 due never exceeded 80.00, and 38.00
    of it stayed unpaid). The lines now name the round's share of the budget."""
    run = _contributions(store, {1: {"alice": 1.0, "bob": 1.0}, 2: {"alice": 0.001, "bob": 0.001}})
    stakes = {"alice": 100_000, "bob": 100_000}
    payouts = pay_rewards(store, run, "stake", 8_000, per_round=True, stakes_minor=stakes)
    assert [p.amount_minor for p in payouts] == [2_000, 2_000, 100, 100]
    lines = {(e.round, e.participant): e.reason or "" for e in store.ledger(run)}
    for who in ("alice", "bob"):
        first = lines[1, who]
        assert "scaled to fit round 1's share of the budget, 40.00 credits (80.00 credits " in (
            first
        )
        assert "split over 2 rounds): the gains due exceed it" in first
        assert "scaled to fit the budget" not in first
        assert "this gain is paid 40.00 % of what it was due" in first
        assert "scaled" not in lines[2, who]  # round 2's 1.00 each was not cut
