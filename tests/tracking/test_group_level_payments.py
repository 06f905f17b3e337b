"""Paying values that are group level (secure aggregation showed the coordinator only each
round's sum): never by contribution where no round was valued per client, and a ledger that
says how many rounds were group level where some were."""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError
from rengo.tracking import RunStore, pay_rewards, record_contributions
from rengo.valuation import ContributionReport, RoundContribution
from rengo.valuation.tracker import GROUP_LEVEL

SUM_ONLY = f"{GROUP_LEVEL}: secure aggregation (SecAgg+): the coordinator sees only the sum"


def _run(store: RunStore, rounds: list[RoundContribution]) -> str:
    run = store.start_run("hfl", {})
    store.finish_run(run, "completed")
    players = sorted({p for r in rounds for p in r.values})
    totals = {p: sum(r.values.get(p, 0.0) for r in rounds) for p in players}
    report = ContributionReport("gtg", totals, tuple(rounds), 10, 4, score_name="test accuracy")
    record_contributions(store, run, report)
    return run


def _group(number: int, gain: float) -> RoundContribution:
    return RoundContribution(number, {"a": gain / 2, "b": gain / 2}, 2, stopped_by=SUM_ONLY)


def test_values_group_level_in_every_round_are_not_paid_by_contribution(
    store: RunStore,
) -> None:
    """They used to be paid 500.00 / 500.00 as "gtg contribution 0.15: 50.00% of the pool":
    an equal split the ledger called each hospital's contribution."""
    run = _run(store, [_group(1, 0.2), _group(2, 0.1)])
    for policy, per_round in (("proportional", False), ("proportional", True)):
        with pytest.raises(ConfigError, match="group level in every round") as refused:
            pay_rewards(store, run, policy, 100_000, per_round=per_round)
        assert "--policy equal" in str(refused.value)
    with pytest.raises(ConfigError, match="group level in every round"):
        pay_rewards(store, run, "stake", 100_000, stakes_minor={"a": 10_000, "b": 10_000})
    assert store.ledger(run) == []
    paid = pay_rewards(store, run, "equal", 100_000)
    assert [p.amount_minor for p in paid] == [50_000, 50_000]


def test_a_ledger_paid_on_partly_group_level_values_says_how_many_rounds_were(
    store: RunStore,
) -> None:
    valued = RoundContribution(2, {"a": 0.3, "b": 0.1}, 4, stopped_by="2 samples")
    run = _run(store, [_group(1, 0.2), valued])
    pay_rewards(store, run, "proportional", 100_000)
    reasons = [e.reason or "" for e in store.ledger(run)]
    assert all("method=gtg (group level in 1 of 2 rounds)" in r for r in reasons)
    assert [e.amount for e in store.ledger(run)] == [66_667, 33_333]


def test_values_valued_per_client_keep_the_plain_method_in_the_ledger(store: RunStore) -> None:
    run = _run(store, [RoundContribution(1, {"a": 0.3, "b": 0.1}, 4, stopped_by="exact")])
    pay_rewards(store, run, "proportional", 100_000)
    assert all("method=gtg budget=" in (e.reason or "") for e in store.ledger(run))


def test_a_per_round_ledger_says_which_rounds_were_an_equal_split(store: RunStore) -> None:
    """Round 1's lines read "gtg contribution to test accuracy 0.1: 50.00% of the pool",
    like round 2's, though round 1 paid the round's score change split equally."""
    valued = RoundContribution(2, {"a": 0.3, "b": 0.1}, 4, stopped_by="2 samples")
    run = _run(store, [_group(1, 0.2), valued])
    pay_rewards(store, run, "proportional", 100_000, per_round=True)
    lines = {(e.round, e.participant): e.reason or "" for e in store.ledger(run)}
    split = "gtg group-level share (the round's score change split equally) of test accuracy"
    assert split in lines[1, "a"] and split in lines[1, "b"]
    assert "contribution" not in lines[1, "a"].split(": ", 1)[1]
    assert "gtg contribution to test accuracy" in lines[2, "a"]
    assert split not in lines[2, "a"] and split not in lines[2, "b"]
