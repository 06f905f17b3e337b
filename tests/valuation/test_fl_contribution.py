"""Contribution of FL clients from reconstructed models on a tiny logistic-regression run."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.rewards import proportional_payouts
from rengo.valuation import (
    GTGConfig,
    MaxSamples,
    MaxUpdates,
    RoundUpdates,
    coalition_round_model,
    coalition_whole_run_model,
    exact_shapley,
    fedavg_parameters,
    gtg_round_shapley,
    gtg_shapley,
    mr_shapley,
    or_shapley,
    tmc_shapley,
)

from .conftest import run_fl

HONEST = [("big", "honest", 60, 0.0), ("small", "honest", 30, 0.0)]
FREE_RIDER_SPECS = [*HONEST, ("copycat", "copy", 30, 0.0), ("noisy", "noise", 30, 0.0)]


@pytest.fixture(scope="module")
def free_rider_run():
    return run_fl(FREE_RIDER_SPECS, rounds=3, seed=3)


@pytest.fixture(scope="module", params=["copy", "noise"])
def one_free_rider_run(request):
    """Two honest clients and one free-rider that sends the global model back (copy) or the
    global model plus noise, claiming as many examples as the small honest client."""
    return run_fl([*HONEST, ("rider", request.param, 30, 0.0)], rounds=3, seed=3)


def test_fedavg_weights_by_examples() -> None:
    a = [np.array([0.0, 0.0]), np.array([1.0])]
    b = [np.array([3.0, 6.0]), np.array([4.0])]
    avg = fedavg_parameters([a, b], [1, 2])
    np.testing.assert_allclose(avg[0], [2.0, 4.0])
    np.testing.assert_allclose(avg[1], [3.0])


def test_empty_coalition_model_is_the_round_global_model(free_rider_run) -> None:
    rounds, _ = free_rider_run
    model = coalition_round_model(rounds[1], frozenset())
    for got, want in zip(model, rounds[1].global_params, strict=True):
        np.testing.assert_array_equal(got, want)


def test_whole_run_model_of_everyone_replays_the_run(free_rider_run) -> None:
    rounds, _ = free_rider_run
    everyone = frozenset(c for c, *_ in FREE_RIDER_SPECS)
    final_global = fedavg_parameters(list(rounds[-1].updates), list(rounds[-1].weights))
    model = coalition_whole_run_model(rounds, everyone)
    for got, want in zip(model, final_global, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("index", ["mr", "or", "gtg"])
def test_free_rider_ranks_last_and_is_paid_nothing(one_free_rider_run, index: str) -> None:
    rounds, evaluate = one_free_rider_run
    if index == "gtg":
        result = gtg_shapley(rounds, evaluate, np.random.default_rng(0))
    else:
        result = mr_shapley(rounds, evaluate) if index == "mr" else or_shapley(rounds, evaluate)
    phi = dict(zip(result.players, result.values, strict=True))
    assert phi["rider"] < min(phi["big"], phi["small"])
    paid = {p.participant: p.amount_minor for p in proportional_payouts(phi, 10_000)}
    assert paid["rider"] == 0
    assert sum(paid.values()) == 10_000


@pytest.mark.parametrize("index", ["mr", "or"])
def test_client_with_twice_the_clean_data_ranks_above(free_rider_run, index: str) -> None:
    rounds, evaluate = free_rider_run
    result = mr_shapley(rounds, evaluate) if index == "mr" else or_shapley(rounds, evaluate)
    phi = dict(zip(result.players, result.values, strict=True))
    assert phi["big"] > phi["small"] > 0


def test_mr_efficiency_per_round(free_rider_run) -> None:
    rounds, evaluate = free_rider_run
    result = mr_shapley(rounds, evaluate)
    assert result.per_round is not None
    for r, values in zip(rounds, result.per_round, strict=True):
        everyone = frozenset(r.client_ids)
        gain = evaluate(coalition_round_model(r, everyone)) - evaluate(r.global_params)
        assert values.sum() == pytest.approx(gain, abs=1e-9)
    assert result.evaluations == 3 * 16


def test_gtg_matches_exact_mr_with_a_third_of_the_evaluations(eight_client_run) -> None:
    rounds, evaluate = eight_client_run
    exact = mr_shapley(rounds, evaluate)
    assert exact.evaluations == 3 * 256
    config = GTGConfig(rule=MaxUpdates(16))  # two stratified blocks a round
    gtg = gtg_shapley(rounds, evaluate, np.random.default_rng(0), config)
    assert gtg.evaluations <= exact.evaluations // 3
    assert np.corrcoef(gtg.values, exact.values)[0, 1] >= 0.95
    assert np.all(np.isfinite(gtg.stderr)) and np.all(gtg.stderr > 0)


def test_tmc_matches_exact_mr_with_a_third_of_the_evaluations(eight_client_run) -> None:
    rounds, evaluate = eight_client_run
    exact = mr_shapley(rounds, evaluate)
    rng = np.random.default_rng(0)
    rule = MaxUpdates(16)
    tmc = mr_shapley(rounds, evaluate, estimator=partial(tmc_shapley, rng=rng, rule=rule))
    assert tmc.evaluations <= exact.evaluations // 3
    assert np.corrcoef(tmc.values, exact.values)[0, 1] >= 0.95


def test_gtg_skips_a_round_that_did_not_move_the_score() -> None:
    calls = []

    def flat(s: frozenset[int]) -> float:
        calls.append(s)
        return 0.5

    result = gtg_round_shapley(flat, 6, np.random.default_rng(0))
    np.testing.assert_array_equal(result.values, np.zeros(6))
    # v(all), v(empty), and each client's solo and leave-one-out coalition confirm it
    assert result.evaluations == 2 + 2 * 6 == len(calls)
    assert result.stopped_by.startswith("between-round truncation")


def test_gtg_values_a_round_whose_clients_cancel_out() -> None:
    # v(all) = v(empty), exact values [10, -10]: the old between-round cut returned [0, 0]
    table = {frozenset(): 0.0, frozenset({0}): 10.0, frozenset({1}): -10.0, frozenset({0, 1}): 0.0}
    result = gtg_round_shapley(table.__getitem__, 2, np.random.default_rng(0))
    np.testing.assert_allclose(result.values, [10.0, -10.0], atol=1e-12)
    assert not result.stopped_by.startswith("between-round")


def test_gtg_on_additive_game_recovers_each_weight() -> None:
    weights = np.array([0.5, 1.0, 2.0, 4.0, 0.25])
    result = gtg_round_shapley(
        lambda s: float(sum(weights[i] for i in s)),
        5,
        np.random.default_rng(0),
        GTGConfig(within_round_eps=0.0),
    )
    np.testing.assert_allclose(result.values, weights, atol=1e-12)


def test_gtg_handles_partial_participation(free_rider_run) -> None:
    rounds, evaluate = free_rider_run
    r0 = rounds[0]
    keep = [0, 1]
    partial_round = RoundUpdates(
        r0.round,
        r0.global_params,
        tuple(r0.client_ids[i] for i in keep),
        tuple(r0.updates[i] for i in keep),
        tuple(r0.weights[i] for i in keep),
    )
    result = gtg_shapley([partial_round, *rounds[1:]], evaluate, np.random.default_rng(0))
    assert result.players == ("big", "copycat", "noisy", "small")
    assert result.per_round is not None
    assert result.per_round[0, 1] == 0.0 and result.per_round[0, 2] == 0.0


def test_round_updates_rejects_mismatched_lengths() -> None:
    with pytest.raises(DataError):
        RoundUpdates(0, [np.zeros(2)], ("a", "b"), ([np.zeros(2)],), (1.0, 1.0))


def test_exact_over_round_game_counts_every_coalition(eight_client_run) -> None:
    rounds, evaluate = eight_client_run
    from rengo.valuation import players_of, round_value_function

    value = round_value_function(rounds[0], players_of(rounds), evaluate)
    assert exact_shapley(value, 8).evaluations == 256


@pytest.mark.parametrize("players", [3, 9, 14])
def test_max_samples_stops_after_that_many_stratified_blocks_whatever_the_cohort(
    players: int,
) -> None:
    """A job's tracker caps each round at two samples: two blocks of one permutation per
    participant, so a round of 3 scans 6 permutations and a round of 14 scans 28 (a cap in
    permutations would have cost a round of 3 as many blocks as it leaves a round of 14)."""
    weights = np.linspace(0.1, 1.0, players)

    def additive(s: frozenset[int]) -> float:
        return float(sum(weights[i] for i in s))

    config = GTGConfig(rule=MaxSamples(2), within_round_eps=0.0, exact_when_cheaper=False)
    result = gtg_round_shapley(additive, players, np.random.default_rng(0), config)
    assert (result.samples, result.permutations) == (2, 2 * players)
    assert result.stopped_by == "2 samples"
    np.testing.assert_allclose(result.values, weights)  # additive game: exact per permutation


@pytest.mark.parametrize("cap", [MaxSamples, MaxUpdates])
def test_a_cap_below_one_is_refused_with_its_name(cap: type) -> None:
    with pytest.raises(ConfigError, match=f"{cap.__name__} needs n >= 1, got 0"):
        cap(0)
