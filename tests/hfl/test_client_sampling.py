"""Client sampling: a fraction of the available clients with a floor, seeded per run and
round, so runs repeat exactly and rounds see different clients."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import RoundFailure
from rengo.hfl import Coordinator, FedAvg, make_pool
from rengo.hfl.strategy import sample_clients


@pytest.mark.parametrize(
    ("fraction", "minimum", "expected"),
    [(0.3, 5, 5), (0.3, 2, 3), (0.25, 1, 3), (0.7, 2, 7), (1.0, 2, 10), (0.1, 20, 10)],
)
def test_fit_sample_is_a_fraction_with_a_minimum(fraction, minimum, expected) -> None:
    strategy = FedAvg(fraction_fit=fraction, min_fit_clients=minimum)
    ids = [f"c{i}" for i in range(10)]
    chosen = strategy.configure_fit(1, [np.zeros(1)], ids, np.random.default_rng(0))
    cids = [cid for cid, _ in chosen]
    assert len(cids) == expected
    assert len(set(cids)) == expected and set(cids) <= set(ids)


@pytest.mark.parametrize(
    ("fraction", "clients", "expected"),
    [(0.55, 100, 55), (0.07, 100, 7), (0.14, 50, 7), (0.1, 1000, 100), (0.001, 400, 1)],
)
def test_a_fraction_samples_its_share_as_written_in_decimal(fraction, clients, expected) -> None:
    # 0.55 * 100 is 55.000000000000007 in floating point: rounded up, 56 clients were sampled
    strategy = FedAvg(
        fraction_fit=fraction, min_fit_clients=1, fraction_evaluate=fraction, min_evaluate_clients=1
    )
    ids = [f"c{i}" for i in range(clients)]
    rng = np.random.default_rng(0)
    assert len(strategy.configure_fit(1, [np.zeros(1)], ids, rng)) == expected
    assert len(strategy.configure_evaluate(1, [np.zeros(1)], ids, rng)) == expected


def test_sample_clients_is_deterministic_for_a_generator_seed() -> None:
    ids = [str(i) for i in range(20)]
    a = sample_clients(ids, 6, np.random.default_rng(42))
    b = sample_clients(ids, 6, np.random.default_rng(42))
    c = sample_clients(ids, 6, np.random.default_rng(43))
    assert a == b
    assert a != c


def _sampled_per_round(logistic_client_fn, seed: int, rounds: int = 4) -> list[list[str]]:
    pool = make_pool(logistic_client_fn, [str(i) for i in range(6)])
    strategy = FedAvg(fraction_fit=0.5, min_fit_clients=2)
    coordinator = Coordinator(strategy, pool, [np.zeros((4, 3)), np.zeros(3)], seed=seed)
    history = coordinator.run(rounds)
    pool.close()
    return [record.clients for record in history.rounds]


def test_round_samples_repeat_for_a_seed_and_differ_across_rounds(logistic_client_fn) -> None:
    first = _sampled_per_round(logistic_client_fn, seed=11)
    assert all(len(c) == 3 for c in first)
    assert first == _sampled_per_round(logistic_client_fn, seed=11)
    assert len({tuple(c) for c in first}) > 1
    assert first != _sampled_per_round(logistic_client_fn, seed=12)


def test_too_few_available_clients_fails_the_round(logistic_client_fn) -> None:
    pool = make_pool(logistic_client_fn, ["0", "1"])
    strategy = FedAvg(min_available_clients=3)
    coordinator = Coordinator(strategy, pool, [np.zeros((4, 3)), np.zeros(3)])
    with pytest.raises(RoundFailure, match="only 2 clients available, min_available_clients=3"):
        coordinator.run(1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fraction_fit": 0.0},
        {"fraction_fit": 1.5},
        {"fraction_evaluate": -0.1},
        {"min_fit_clients": 0},
        {"min_evaluate_clients": -1},
        {"min_available_clients": -2},
    ],
)
def test_invalid_sampling_options_are_rejected(kwargs) -> None:
    with pytest.raises(ValueError):
        FedAvg(**kwargs)
