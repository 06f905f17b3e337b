"""A run checkpointed after round 3 and restored into a new coordinator ends round 6 exactly
where an uninterrupted run does; FedAdam makes the server optimiser state matter."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.hfl import Coordinator, FedAdam, FedAvg, make_pool

INIT = [np.zeros((4, 3)), np.zeros(3)]
IDS = [str(i) for i in range(6)]


def _fedadam() -> FedAdam:
    return FedAdam(fraction_fit=0.5, min_fit_clients=3, eta=0.05)


def test_restored_run_equals_an_uninterrupted_run(logistic_client_fn) -> None:
    pool = make_pool(logistic_client_fn, IDS)
    straight = Coordinator(_fedadam(), pool, INIT, seed=2).run(6)

    first = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    first_half = first.run(3)
    blob = first.checkpoint_blob(3)

    second = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    assert second.restore(blob) == 3
    assert second.start_round == 4
    second_half = second.run(6)

    assert [r.server_round for r in first_half.rounds] == [1, 2, 3]
    assert [r.server_round for r in second_half.rounds] == [4, 5, 6]
    assert [r.clients for r in straight.rounds] == [
        r.clients for r in first_half.rounds + second_half.rounds
    ]
    for a, b in zip(straight.parameters, second_half.parameters, strict=True):
        assert a.tobytes() == b.tobytes()


def test_restoring_only_the_model_does_not_reproduce_the_run(logistic_client_fn) -> None:
    """The checkpoint's optimiser moments matter: a fresh FedAdam diverges from round 4."""
    straight = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2).run(6)
    first = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT, seed=2)
    first.run(3)
    model_only = Coordinator(
        _fedadam(), make_pool(logistic_client_fn, IDS), first.parameters, seed=2, start_round=4
    )
    model_only.strategy.initialize(first.parameters)
    partial = model_only.run(6)
    assert any(
        a.tobytes() != b.tobytes()
        for a, b in zip(straight.parameters, partial.parameters, strict=True)
    )


def test_a_checkpoint_of_another_strategy_is_rejected(logistic_client_fn) -> None:
    first = Coordinator(_fedadam(), make_pool(logistic_client_fn, IDS), INIT)
    first.run(1)
    other = Coordinator(FedAvg(), make_pool(logistic_client_fn, IDS), INIT)
    with pytest.raises(ValueError, match="checkpoint is for FedAdam, not FedAvg"):
        other.restore(first.checkpoint_blob(1))
