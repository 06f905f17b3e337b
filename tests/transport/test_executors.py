"""The executor registry: the built-in names, clear errors, and a new executor usable by
simulate and job files once registered (no list to edit)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init
from rengo.jobs import parse_job
from rengo.tracking import RunStore
from rengo.transport import (
    ClientPool,
    Handler,
    SerialPool,
    executor_names,
    make_executor,
    register_executor,
)


def test_the_built_in_executors_are_registered() -> None:
    assert executor_names()[:3] == ("serial", "process", "ray")


def test_an_unknown_executor_names_the_closest() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'proces'; did you mean 'process'"):
        make_executor("proces", lambda *a: (b"", None), ["a"])


@pytest.mark.parametrize("workers", [0, -3, 1.5, True])
def test_workers_that_are_no_count_of_workers_are_refused(workers: Any) -> None:
    # the process pool ran 0 workers as one per core and -3 as one, without a word
    with pytest.raises(ConfigError, match=rf"workers must be a whole number >= 1.*got {workers}"):
        make_executor("process", lambda *a: (b"", None), ["a"], workers)


def test_the_process_executor_where_fork_is_missing_names_the_serial_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Windows has only 'spawn': a RuntimeError's traceback was all a `rengo run` showed
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with pytest.raises(ConfigError, match=r"executor 'process'.*fork.*use executor 'serial'"):
        make_executor("process", lambda *a: (b"", None), ["a"], 2)


class CountingPool(SerialPool):
    """A serial pool that counts requests (a stand-in for a new executor)."""

    requests = 0

    def request(self, requests: Sequence[Any], timeout: float | None = None) -> Any:
        CountingPool.requests += len(requests)
        return super().request(requests, timeout)


def _counting(
    handler: Handler, client_ids: Sequence[str], workers: int | None = None, **options: Any
) -> ClientPool:
    return CountingPool(handler, client_ids)


register_executor("test_counting", _counting, "a serial pool that counts requests")


def test_a_registered_executor_runs_simulations_and_job_files() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 2, size=60)
    history = simulate(
        lambda cid: LogisticRegressionClient(X[int(cid) :: 3], y[int(cid) :: 3]),
        3, FedAvg(min_fit_clients=3), softmax_init(4, 2), 2, executor="test_counting",
    )  # fmt: skip
    assert len(history.rounds) == 2 and CountingPool.requests == 6
    spec = parse_job({"job": {"executor": "test_counting"}, "model": {"type": "logistic"}})
    assert spec.job.executor == "test_counting"
    with pytest.raises(ValueError, match="already registered"):
        register_executor("serial", _counting)


def test_the_old_executor_constants_warn_and_follow_the_registry() -> None:
    import rengo.hfl
    import rengo.jobs.spec

    with pytest.warns(DeprecationWarning, match="executor_names"):
        assert executor_names() == rengo.hfl.EXECUTORS
    with pytest.warns(DeprecationWarning, match="executor_names"):
        assert executor_names() == rengo.jobs.spec.EXECUTORS


def test_an_option_the_executors_pool_does_not_take_is_refused_by_name() -> None:
    # it was a bare TypeError from the pool's constructor
    with pytest.raises(ConfigError, match="'serial' takes no option 'thread_per_client'; did you"):
        make_executor("serial", lambda *a: (b"", None), ["a"], thread_per_client=2)
    with pytest.raises(ConfigError, match="'process' takes no option 'address'"):
        make_executor("process", lambda *a: (b"", None), ["a"], address="auto")


class _OwnPool:
    """An executor of a user's own: the ClientPool protocol by delegation, keeping no
    clients' states for the round checkpoint."""

    def __init__(self, handler: Handler, client_ids: Sequence[str]) -> None:
        self._inner = SerialPool(handler, client_ids)

    def client_ids(self) -> list[str]:
        return self._inner.client_ids()

    def request(self, requests: Sequence[Any], timeout: float | None = None) -> Any:
        return self._inner.request(requests, timeout)

    def close(self) -> None:
        self._inner.close()


register_executor("test_own", lambda handler, ids, workers=None, **o: _OwnPool(handler, ids))


def test_a_simulation_on_an_executor_keeping_no_client_states_resumes(tmp_path: Path) -> None:
    """It raised AttributeError ('_OwnPool' has no 'client_states') once resumed, and the
    run was recorded failed, for good."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 3, size=60)

    def client_fn(cid: str) -> LogisticRegressionClient:
        return LogisticRegressionClient(X[int(cid) :: 3], y[int(cid) :: 3])

    def stop(record: Any) -> None:
        if record.server_round == 2:
            raise KeyboardInterrupt

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            simulate(client_fn, 3, FedAvg(min_fit_clients=3), softmax_init(4, 3), 4,
                     store=store, executor="test_own", progress=stop)  # fmt: skip
        run_id = store.list_runs()[0].run_id
        resumed = simulate(client_fn, 3, FedAvg(min_fit_clients=3), softmax_init(4, 3), 4,
                           store=store, executor="test_own", resume=run_id)  # fmt: skip
        assert [r.server_round for r in resumed.rounds] == [3, 4]
        assert store.get_run(run_id).status == "completed"
