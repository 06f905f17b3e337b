"""Payout policies: exact integer rounding, a budget that is never exceeded, bounded burns."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.core.errors import ConfigError
from rengo.rewards import (
    Budget,
    Payout,
    equal_share_payouts,
    largest_remainder,
    proportional_payouts,
    stake_clipped_payouts,
)

names = st.lists(st.text("abcdef", min_size=1, max_size=4), min_size=1, max_size=8, unique=True)
finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(
    contributions=st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), finite, min_size=1),
    pool=st.integers(0, 10**12),
)
def test_proportional_pays_exactly_the_pool_or_nothing(contributions, pool) -> None:
    payouts = proportional_payouts(contributions, pool)
    total = sum(p.amount_minor for p in payouts)
    assert all(p.amount_minor >= 0 for p in payouts)
    if any(v > 0 for v in contributions.values()):
        assert total == pool
    else:
        assert total == 0
    for p in payouts:
        if contributions[p.participant] <= 0:
            assert p.amount_minor == 0


@settings(max_examples=150, deadline=None)
@given(
    scores=st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), finite, min_size=1),
    stake=st.integers(0, 10**9),
    budget=st.integers(0, 10**8),
    factor=st.sampled_from([0.5, 1.0, 2.0]),
    clip=st.sampled_from([0.05, 0.25, 1.0]),
)
def test_stake_payouts_never_exceed_budget_and_burn_at_most_the_clip(
    scores, stake, budget, factor, clip
) -> None:
    stakes = {p: stake + i for i, p in enumerate(sorted(scores))}
    payouts = stake_clipped_payouts(scores, stakes, budget, factor=factor, clip=clip)
    gains = sum(p.amount_minor for p in payouts if p.amount_minor > 0)
    assert gains <= budget
    c = Fraction(repr(clip))
    for p in payouts:
        assert abs(p.amount_minor) <= stakes[p.participant] * c
        if scores[p.participant] < 0:
            assert p.amount_minor <= 0


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(0, 10**15),
    weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=12),
)
def test_largest_remainder_sums_exactly_and_stays_within_one_unit(total, weights) -> None:
    shares = largest_remainder(total, weights)
    if sum(weights) == 0:
        assert shares == [0] * len(weights)
        return
    assert sum(shares) == total
    for share, w in zip(shares, weights, strict=True):
        quota = Fraction(total * w, sum(weights))
        assert quota - 1 < share < quota + 1


def test_largest_remainder_hand_example() -> None:
    # quotas 3.333.., 3.333.., 3.333..: one leftover unit to the first (lowest index)
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    # quotas 1.5, 3.5, 5.0 -> floors 1, 3, 5, one unit left, tie broken by index
    assert largest_remainder(10, [3, 7, 10]) == [2, 3, 5]


def test_proportional_hand_example_uses_clipped_positive_shapley() -> None:
    payouts = proportional_payouts({"a": 0.3, "b": 0.1, "c": -0.2}, 1000)
    assert [(p.participant, p.amount_minor) for p in payouts] == [("a", 750), ("b", 250), ("c", 0)]


def test_equal_share_splits_remainder_deterministically() -> None:
    payouts = equal_share_payouts(["z", "a", "m"], 100)
    assert [(p.participant, p.amount_minor) for p in payouts] == [("a", 34), ("m", 33), ("z", 33)]


def test_negative_score_burns_at_most_clip_of_stake() -> None:
    payouts = stake_clipped_payouts({"a": -0.9, "b": -0.01}, {"a": 1000, "b": 1000}, 0)
    amounts = {p.participant: p.amount_minor for p in payouts}
    assert amounts == {"a": -50, "b": -10}


def test_gains_scaled_into_the_budget_sum_to_it_exactly() -> None:
    payouts = stake_clipped_payouts(
        {"a": 1.0, "b": 1.0, "c": 0.02}, {"a": 999, "b": 999, "c": 999}, 70
    )
    amounts = {p.participant: p.amount_minor for p in payouts}
    # uncapped gains are 49.95 -> 49, 49, 19.98 -> 19: 117 > 70, so 70 is split by them
    assert sum(amounts.values()) == 70
    assert amounts == {"a": 29, "b": 29, "c": 12}


def test_budget_refuses_overspending_and_tracks_burns() -> None:
    budget = Budget(100)
    budget.charge([Payout("a", 60, ""), Payout("b", -5, "")])
    assert budget.remaining_minor == 40 and budget.burned_minor == 5
    with pytest.raises(ConfigError):
        budget.charge([Payout("a", 41, "")])
    assert budget.remaining_minor == 40


def test_money_rejects_floats_that_are_not_finite() -> None:
    with pytest.raises(ConfigError):
        proportional_payouts({"a": float("nan")}, 10)
    with pytest.raises(ConfigError):
        proportional_payouts({"a": 1.0}, -1)


@pytest.mark.parametrize("clip", [2, 5, "1.01", -0.01])
def test_stake_clip_outside_zero_to_one_is_refused_so_no_burn_exceeds_the_stake(clip) -> None:
    """Only a negative clip was refused: clip 2 burned twice the stake."""
    with pytest.raises(ConfigError, match=r"clip is a fraction of the stake in \[0, 1\]"):
        stake_clipped_payouts({"a": -1.0}, {"a": 1000}, 0, clip=clip)
    full = stake_clipped_payouts({"a": -1.0}, {"a": 1000}, 0, clip=1)
    assert [p.amount_minor for p in full] == [-1000]  # at most the whole stake


@pytest.mark.parametrize(
    ("option", "value"), [("clip", "abc"), ("clip", "nan"), ("factor", "nan"), ("factor", "x")]
)
def test_stake_policy_parameter_that_is_not_a_number_is_a_config_error(option, value) -> None:
    """Fraction's bare ValueError reached the CLI as a traceback."""
    with pytest.raises(ConfigError, match=f"{option} must be a finite number, got '{value}'"):
        stake_clipped_payouts({"a": 0.1}, {"a": 1000}, 100, **{option: value})


def test_negative_stake_payout_factor_is_refused_as_payout_rules_is() -> None:
    with pytest.raises(ConfigError, match="payout factor must be >= 0"):
        stake_clipped_payouts({"a": 0.1}, {"a": 1000}, 100, factor=-1)


def test_largest_remainder_refuses_a_negative_cap_rather_than_a_negative_share() -> None:
    """caps=[-5, 20] gave the share -5."""
    with pytest.raises(ConfigError, match="a cap must be a non-negative int"):
        largest_remainder(10, [1, 1], caps=[-5, 20])
    assert largest_remainder(10, [1, 1], caps=[0, 20]) == [0, 10]


def test_proportional_payouts_of_a_non_numeric_contribution_is_a_config_error() -> None:
    """float('x') raised a bare ValueError, not the documented ConfigError."""
    with pytest.raises(ConfigError, match="the value of 'a' is not a number"):
        proportional_payouts({"a": "x"}, 100)  # type: ignore[dict-item]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "-inf"])
def test_a_contribution_that_is_not_finite_is_refused_naming_the_participant(value) -> None:
    """A diverged value read 'amount nan is not finite': which participant's was it?"""
    with pytest.raises(ConfigError, match="the value of 'mallory' is not finite"):
        proportional_payouts({"alice": 0.1, "mallory": value}, 100)
    with pytest.raises(ConfigError, match="the value of 'mallory' is not finite"):
        stake_clipped_payouts({"alice": 0.1, "mallory": value}, {"alice": 1, "mallory": 1}, 10)


def test_a_gain_cut_by_the_budget_says_so_in_its_reason_and_an_uncut_one_does_not() -> None:
    """A participant read 'stake x clip(+0.05, ±0.05)' beside 175.93 paid on a stake of
    4000.00 (the budget had cut every gain), or beside 0.00 once the budget was spent."""
    scaled = {
        p.participant: p
        for p in stake_clipped_payouts({"a": 1.0, "b": -1.0}, {"a": 1000, "b": 1000}, 40)
    }
    assert scaled["a"].amount_minor == 40  # 50 due
    assert "scaled to fit the budget" in scaled["a"].reason
    assert "80.00 %" in scaled["a"].reason
    assert "budget" not in scaled["b"].reason  # a burn is never cut
    spent = stake_clipped_payouts({"a": 1.0}, {"a": 1000}, 0)[0]
    assert spent.amount_minor == 0 and "not paid: the budget is spent" in spent.reason
    uncut = stake_clipped_payouts({"a": 1.0}, {"a": 1000}, 50)[0]
    assert uncut.amount_minor == 50 and uncut.reason == "stake x clip(+0.05, ±0.05)"


def test_each_cut_gain_states_its_own_share_of_what_it_was_due() -> None:
    """Two minor units among three gains of 50 due pay 1, 1 and 0; every line said 'each is
    paid about 1.33 %', the one paid 0 too. Each now gives its own share (2.00 % of what it
    was due), and the one the last units never reached says it was not paid and why."""
    scores = {"a": 1.0, "b": 1.0, "c": 1.0}
    payouts = {
        p.participant: p for p in stake_clipped_payouts(scores, dict.fromkeys("abc", 1000), 2)
    }
    assert [payouts[p].amount_minor for p in "abc"] == [1, 1, 0]
    for p in "ab":
        assert "this gain is paid 2.00 % of what it was due" in payouts[p].reason
    assert "not paid: the gains due exceed the budget" in payouts["c"].reason
    assert "%" not in payouts["c"].reason
    # a gain paid a sliver of its due is never shown as paid 0.00 %
    sliver = stake_clipped_payouts({"a": 1.0, "b": 1.0}, {"a": 10**6, "b": 10**6}, 1)
    assert "paid under 0.01 % of what it was due" in sliver[0].reason
    assert sliver[0].amount_minor == 1


def test_a_cut_gain_names_the_cap_its_caller_says_cut_it() -> None:
    """rewards pay --per-round cut round 1's gains to its 40.00 share of an 80.00 budget,
    and the ledger said 'scaled to fit the budget: the gains due exceed it'."""
    share = "round 1's share of the budget, 40.00 credits"
    cut = stake_clipped_payouts({"a": 1.0}, {"a": 1000}, 40, cap_name=share)[0]
    assert f"scaled to fit {share}: the gains due exceed it" in cut.reason
    assert "the budget:" not in cut.reason
    spent = stake_clipped_payouts({"a": 1.0}, {"a": 1000}, 0, cap_name=share)[0]
    assert f"not paid: {share} is spent" in spent.reason
    with pytest.raises(ConfigError, match="cap_name"):
        stake_clipped_payouts({"a": 1.0}, {"a": 1000}, 40, cap_name=" ")
