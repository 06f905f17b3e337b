"""Exact Shapley satisfies the axioms and matches closed-form games; LOO and sampling agree."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.valuation import (
    CountingValue,
    MaxUpdates,
    exact_shapley,
    leave_one_out,
    party_shapley,
    permutation_shapley,
    tmc_shapley,
)


def random_game(n: int, seed: int):
    rng = np.random.default_rng(seed)
    table = rng.normal(size=1 << n)

    def value(s: frozenset[int]) -> float:
        return float(table[sum(1 << i for i in s)])

    return value, table


def test_efficiency_values_sum_to_grand_coalition_gain() -> None:
    value, table = random_game(6, seed=1)
    result = exact_shapley(value, 6)
    assert result.values.sum() == pytest.approx(table[-1] - table[0], abs=1e-12)
    assert result.evaluations == 64


def test_symmetric_players_get_equal_values() -> None:
    weights = [3.0, 1.0, 1.0, 2.0]
    result = exact_shapley(lambda s: np.sqrt(sum(weights[i] for i in s)), 4)
    assert result.values[1] == pytest.approx(result.values[2], abs=1e-12)


def test_null_player_gets_zero() -> None:
    value, _ = random_game(4, seed=2)

    def with_null(s: frozenset[int]) -> float:
        return value(s - {4})

    result = exact_shapley(with_null, 5)
    assert result.values[4] == pytest.approx(0.0, abs=1e-12)


def test_additivity_of_two_games() -> None:
    u, _ = random_game(5, seed=3)
    w, _ = random_game(5, seed=4)
    both = exact_shapley(lambda s: u(s) + w(s), 5).values
    separate = exact_shapley(u, 5).values + exact_shapley(w, 5).values
    np.testing.assert_allclose(both, separate, atol=1e-12)


def test_glove_game_matches_closed_form() -> None:
    # players 0 and 1 hold left gloves, player 2 a right glove: v = pairs formed
    left, right = {0, 1}, {2}
    result = exact_shapley(lambda s: min(len(s & left), len(s & right)), 3)
    np.testing.assert_allclose(result.values, [1 / 6, 1 / 6, 2 / 3], atol=1e-12)


def test_weighted_voting_game_matches_closed_form() -> None:
    # quota 51, weights 50/49/1: player 0 is pivotal in 4 of 6 orders, the others in 1
    weights = [50, 49, 1]
    result = exact_shapley(lambda s: float(sum(weights[i] for i in s) >= 51), 3)
    np.testing.assert_allclose(result.values, [2 / 3, 1 / 6, 1 / 6], atol=1e-12)


def test_leave_one_out_of_additive_game_is_each_weight() -> None:
    weights = np.array([1.0, -2.0, 0.5, 4.0])
    result = leave_one_out(lambda s: float(sum(weights[i] for i in s)), 4)
    np.testing.assert_allclose(result.values, weights)
    assert result.evaluations == 5


def test_counting_value_memoises_and_counts() -> None:
    calls: list[frozenset[int]] = []
    counted = CountingValue(lambda s: calls.append(s) or float(len(s)))
    counted(frozenset({1}))
    counted(frozenset({1}))
    counted(frozenset({2}))
    assert counted.evaluations == 2
    assert len(calls) == 2
    counted(frozenset(np.array([1])))  # a numpy integer names the same player
    counted(frozenset({100, 3}))
    counted(frozenset({3, 100}))
    assert counted.evaluations == 3 and calls[-1] == {3, 100}


def test_remembered_coalitions_take_bytes_not_kilobytes_each() -> None:
    """Sampling 120 players remembers every prefix it scanned: as frozensets they took
    2,785 bytes each at their peak (one default TMC run at 200 players: 364,603 of them,
    1.7 GB), as bitmasks about 120 bytes."""
    n = 120
    weights = np.random.default_rng(0).uniform(1, 10, n)

    def value(s: frozenset[int]) -> float:
        return float(np.log1p(sum(weights[i] for i in s) / n))

    tracemalloc.start()
    try:
        result = tmc_shapley(value, n, np.random.default_rng(0), rule=MaxUpdates(n))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.evaluations > 10_000
    assert peak / result.evaluations < 500


def test_permutation_sampling_converges_to_exact_on_random_game() -> None:
    value, _ = random_game(5, seed=5)
    exact = exact_shapley(value, 5).values
    sampled = permutation_shapley(
        value, 5, np.random.default_rng(0), rule=MaxUpdates(3000), exact_when_cheaper=False
    )
    assert sampled.permutations == 3000
    np.testing.assert_allclose(sampled.values, exact, atol=0.08)
    assert np.all(np.abs(sampled.values - exact) <= 4 * sampled.stderr)


def test_tmc_is_efficient_without_truncation_per_stratified_block() -> None:
    value, table = random_game(6, seed=6)
    result = tmc_shapley(
        value,
        6,
        np.random.default_rng(1),
        truncation=0.0,
        rule=MaxUpdates(6),
        exact_when_cheaper=False,
    )
    assert result.permutations == 6
    assert result.values.sum() == pytest.approx(table[-1] - table[0], abs=1e-12)


def test_exact_refuses_too_many_players() -> None:
    with pytest.raises(ConfigError):
        exact_shapley(lambda s: 0.0, 17)


def test_vfl_party_shapley_exact_and_sampled_agree() -> None:
    # party i's columns add i + 1 to the score, with a bonus when parties 0 and 1 combine
    def retrain_score(s: frozenset[int]) -> float:
        return float(sum(i + 1 for i in s) + (2.0 if {0, 1} <= s else 0.0))

    parties = ["bank", "retailer", "telco", "insurer"]
    exact = party_shapley(retrain_score, parties)
    np.testing.assert_allclose(exact.values, [2.0, 3.0, 3.0, 4.0], atol=1e-12)
    assert exact.players == tuple(parties)
    sampled = party_shapley(
        retrain_score,
        parties,
        np.random.default_rng(0),
        exact_max_parties=2,
        rule=MaxUpdates(400),
        truncation=0.0,
        exact_when_cheaper=False,
    )
    assert sampled.method == "vfl_tmc"
    np.testing.assert_allclose(sampled.values, exact.values, atol=0.1)
    with pytest.raises(ConfigError):
        party_shapley(retrain_score, parties, None, exact_max_parties=2)


def test_an_error_of_the_value_function_names_the_coalition_it_was_valuing() -> None:
    """A model that fails on one coalition of many clients raised its own error alone, so
    nothing said which coalition to look at."""

    def fails_on_a_pair(s: frozenset[int]) -> float:
        if s == {1, 3}:
            raise RuntimeError("model diverged")
        return float(len(s))

    with pytest.raises(RuntimeError, match="model diverged") as raised:
        exact_shapley(fails_on_a_pair, 4)
    assert "while valuing the coalition of players [1, 3]" in raised.value.__notes__

    with pytest.raises(TypeError) as not_a_number:
        leave_one_out(lambda s: None, 2)  # type: ignore[arg-type,return-value]
    assert "while valuing the coalition of players [0, 1]" in not_a_number.value.__notes__
