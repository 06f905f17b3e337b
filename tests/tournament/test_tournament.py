"""The tournament: validation of submissions, per-era scoring, stake payouts, state export."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import DataError, ProtocolError
from rengo.rewards import Budget
from rengo.tournament import (
    PayoutRule,
    Tournament,
    mmc,
    numerai_corr,
    score_round,
    stake_weighted_meta_model,
)

ROWS = [f"r{i}" for i in range(60)]
ERAS = ["e1"] * 30 + ["e2"] * 30


def make_round(seed: int = 0):
    rng = np.random.default_rng(seed)
    target = rng.random(60)
    good = np.clip(target + rng.normal(scale=0.2, size=60), 0, 1)
    noise = rng.random(60)
    return target, good, noise


def test_score_round_per_era_matches_the_scoring_functions() -> None:
    target, good, noise = make_round()
    subs = {
        "good": dict(zip(ROWS, good, strict=True)),
        "noise": dict(zip(ROWS, noise, strict=True)),
    }
    stakes = {"good": 1000, "noise": 3000}
    result = score_round(
        subs, stakes, dict(zip(ROWS, ERAS, strict=True)), dict(zip(ROWS, target, strict=True))
    )
    era1 = slice(0, 30)
    meta = stake_weighted_meta_model([good[era1], noise[era1]], [1000, 3000])
    first = result.scores["good"].eras[0]
    assert first.era == "e1"
    assert first.corr == pytest.approx(numerai_corr(good[era1], target[era1]), abs=1e-12)
    assert first.mmc == pytest.approx(mmc(good[era1], meta, target[era1]), abs=1e-12)
    assert result.scores["good"].corr > result.scores["noise"].corr


def test_payout_rule_clips_to_a_fraction_of_stake() -> None:
    target, good, _ = make_round()
    rule = PayoutRule(corr_multiplier=1.0, mmc_multiplier=0.0, payout_factor=10.0, clip=0.05)
    result = score_round(
        {"good": dict(zip(ROWS, good, strict=True))},
        {"good": 2000},
        dict(zip(ROWS, ERAS, strict=True)),
        dict(zip(ROWS, target, strict=True)),
        rule,
    )
    assert result.payouts[0].amount_minor == 100  # 10 * CORR > 0.05 -> clipped to 5 % of 2000


def test_tournament_round_trip_with_budget_leaderboard_and_history() -> None:
    target, good, noise = make_round()
    budget = Budget(10_000)
    t = Tournament(PayoutRule(), budget)
    rid = t.open_round(ROWS, ERAS, features=np.zeros((60, 3)))
    assert t.published(rid).row_ids == tuple(ROWS)
    t.submit("good", dict(zip(ROWS, good, strict=True)), 1000)
    t.submit("noise", noise, 1000)
    result = t.resolve(dict(zip(ROWS, target, strict=True)))
    paid = {p.participant: p.amount_minor for p in result.payouts}
    assert budget.paid_minor == sum(a for a in paid.values() if a > 0)
    assert [e.participant for e in t.leaderboard()] == ["good", "noise"]
    assert [era.era for _, era in t.history("good")] == ["e1", "e2"]
    restored = Tournament.from_dict(t.to_dict())
    assert restored.to_dict() == t.to_dict()
    with pytest.raises(ProtocolError):
        t.submit("late", good, 10)


def test_submissions_are_validated() -> None:
    t = Tournament()
    t.open_round(ROWS, ERAS)
    _, good, _ = make_round()
    with pytest.raises(DataError):
        t.submit("a", good * 2 + 0.1, 10)  # outside [0, 1]
    with pytest.raises(DataError):
        t.submit("a", dict(zip(ROWS[:-1], good[:-1], strict=True)), 10)  # a row missing
    with pytest.raises(DataError):
        t.submit("a", {**dict(zip(ROWS, good, strict=True)), "x": 0.5}, 10)  # unknown row
    with pytest.raises(DataError):
        t.submit("a", good, -1)  # negative stake
    with pytest.raises(DataError):
        t.submit("a", np.full(60, np.nan), 1)


def test_budget_caps_tournament_gains() -> None:
    target, good, _ = make_round()
    t = Tournament(PayoutRule(payout_factor=10.0), Budget(7))
    t.open_round(ROWS, ERAS)
    t.submit("a", good, 1000)
    t.submit("b", good, 1000)
    result = t.resolve(target)
    assert sum(p.amount_minor for p in result.payouts) == 7
