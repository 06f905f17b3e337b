"""Splitting data across fake identities raises a Shapley-proportional payout (Qi & Zhu 2024);
identity groups and leave-one-out payouts remove the gain."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.rewards import (
    Payout,
    equal_share_payouts,
    grouped_shapley,
    grouped_value,
    identity_groups,
    measure_sybil_gain,
    split_group_payout,
)
from rengo.valuation import exact_shapley


def value_of_sizes(sizes: Sequence[float]) -> float:
    """Diminishing returns in data: model quality grows like sqrt(examples)."""
    return math.sqrt(sum(sizes))


def split_evenly(size: float, k: int) -> list[float]:
    return [size / k] * k


def test_splitting_into_identities_raises_shapley_payout() -> None:
    report = measure_sybil_gain(
        value_of_sizes,
        {"alice": 100.0, "bob": 100.0},
        "bob",
        split_evenly,
        k=2,
        pool_minor=1_000_000,
    )
    assert report.honest_minor == 500_000
    assert report.gain_minor > 0


def test_gain_grows_with_more_identities() -> None:
    data = {"alice": 100.0, "bob": 100.0, "carol": 50.0}
    gains = [
        measure_sybil_gain(value_of_sizes, data, "bob", split_evenly, k, 1_000_000).gain_minor
        for k in (2, 4)
    ]
    assert 0 < gains[0] < gains[1]


def test_identity_groups_remove_the_gain() -> None:
    data = {"alice": 100.0, "bob": 100.0, "carol": 50.0}
    report = measure_sybil_gain(value_of_sizes, data, "bob", split_evenly, 4, 1_000_000)
    assert report.gain_minor > 0
    assert report.grouped_gain_minor == 0


def test_leave_one_out_payouts_remove_the_gain() -> None:
    data = {"alice": 100.0, "bob": 100.0, "carol": 50.0}
    report = measure_sybil_gain(value_of_sizes, data, "bob", split_evenly, 4, 1_000_000)
    assert report.loo_gain_minor <= 0


def test_leave_one_out_payouts_reward_splitting_where_value_has_increasing_returns() -> None:
    """The limit the module docstring states: with v = (examples / 100)^2 splitting raises
    the attacker's LOO payout (46.3 % -> 50.1 % of the pool), its Shapley payout does not
    move, and identity groups still remove any gain."""
    data = {"a": 30.0, "b": 50.0, "c": 20.0}
    report = measure_sybil_gain(
        lambda sizes: (sum(sizes) / 100) ** 2, data, "b", split_evenly, 2, 100_000
    )
    # by hand: LOO of a, b, c = 1 - 0.7^2, 1 - 0.5^2, 1 - 0.8^2 = 0.51, 0.75, 0.36; each
    # half of b: 1 - 0.75^2 = 0.4375
    assert abs(report.loo_honest_minor - 100_000 * 0.75 / 1.62) <= 1
    assert abs(report.loo_sybil_minor - 100_000 * 0.875 / 1.745) <= 1
    assert report.loo_gain_minor > 3_000
    assert report.gain_minor == 0
    assert report.grouped_gain_minor == 0


def test_identity_groups_merge_certified_entities() -> None:
    groups = identity_groups(["a1", "a2", "b", "c"], {"a1": "acme", "a2": "acme"})
    assert groups == {"acme": ["a1", "a2"], "b": ["b"], "c": ["c"]}


def test_grouped_game_values_the_union_of_members() -> None:
    weights = [1.0, 2.0, 4.0]
    game = grouped_value(lambda s: sum(weights[i] for i in s), [[0, 1], [2]])
    np.testing.assert_allclose(exact_shapley(game, 2).values, [3.0, 4.0])


def test_group_payout_is_split_exactly_among_members() -> None:
    parts = split_group_payout(Payout("acme", -101, "burn"), ["x", "y"])
    assert [p.amount_minor for p in parts] == [-51, -50]


def test_group_edge_cases_are_refused_rather_than_paying_wrongly() -> None:
    """Each used to pass silently: a player in no group got nothing from grouped Shapley;
    an unregistered participant named like an entity was merged into it; a member listed
    twice was paid twice; an equal-share pool with nobody to pay went unpaid."""
    with pytest.raises(ConfigError, match=r"players \['c'\] are in no identity group"):
        grouped_shapley(lambda s: float(len(s)), ["a", "b", "c"], {"E": ["a", "b"]})
    assert grouped_shapley(lambda s: float(len(s)), ["a", "b"], {"E": ["a", "b"]}).values == [
        pytest.approx(2.0)
    ]
    with pytest.raises(ConfigError, match=r"\['acme'\] are not registered"):
        identity_groups(["acme", "x"], {"x": "acme"})
    with pytest.raises(ConfigError, match="listed twice"):
        identity_groups(["x", "x"], {})
    with pytest.raises(ConfigError, match="lists a member twice"):
        split_group_payout(Payout("acme", 10, "pay"), ["a", "a", "b"])
    with pytest.raises(ConfigError, match="no participants to share a pool of 7"):
        equal_share_payouts([], 7)
    assert equal_share_payouts([], 0) == []
