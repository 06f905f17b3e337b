"""A recorded run of weeks holds only its latest rounds in memory: the run store keeps every
round, the returned history the latest ``keep_rounds`` (counting the others)."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import Coordinator, FedAvg, make_pool
from rengo.tracking import RunStore

INIT = [np.zeros((4, 3)), np.zeros(3)]
IDS = [str(i) for i in range(3)]


def _coordinator(client_fn, store=None, run_id=None) -> Coordinator:  # type: ignore[no-untyped-def]
    pool = make_pool(client_fn, IDS)
    return Coordinator(FedAvg(min_fit_clients=2), pool, INIT, seed=1, store=store, run_id=run_id)


def test_history_holds_the_latest_rounds_while_the_store_keeps_every_round(
    logistic_client_fn,
) -> None:
    with RunStore(":memory:") as store:
        run_id = store.start_run("hfl", {})
        history = _coordinator(logistic_client_fn, store, run_id).run(7, keep_rounds=3)
        assert [r.server_round for r in history.rounds] == [5, 6, 7]
        assert history.earlier_rounds == 4
        assert [r.round for r in store.rounds(run_id)] == [1, 2, 3, 4, 5, 6, 7]
    assert "after 4 earlier rounds kept in the run store" in repr(history)


def test_the_latest_rounds_are_those_an_unbounded_history_ends_with(logistic_client_fn) -> None:
    with RunStore(":memory:") as store:
        bounded = _coordinator(logistic_client_fn, store, store.start_run("hfl", {}))
        kept = bounded.run(5, keep_rounds=2)
    every = _coordinator(logistic_client_fn).run(5)
    assert [r.metrics for r in kept.rounds] == [r.metrics for r in every.rounds[-2:]]
    for got, want in zip(kept.parameters, every.parameters, strict=True):
        np.testing.assert_array_equal(got, want)


def test_keeping_fewer_rounds_than_all_needs_a_store_and_at_least_one(logistic_client_fn) -> None:
    with pytest.raises(ConfigError, match="only with a run store"):
        _coordinator(logistic_client_fn).run(2, keep_rounds=1)
    with RunStore(":memory:") as store:
        coordinator = _coordinator(logistic_client_fn, store, store.start_run("hfl", {}))
        with pytest.raises(ConfigError, match="at least 1 round"):
            coordinator.run(2, keep_rounds=0)
