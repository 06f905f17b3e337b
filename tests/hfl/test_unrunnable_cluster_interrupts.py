"""A joined Ray cluster with no live node able to run a client task for ``unrunnable_wait_s``
(:class:`~rengo.core.errors.UnrunnableClientTask`) stops a run with nothing wrong in it: the
run is recorded ``interrupted``, keeps its completed rounds and checkpoints, and ``resume``
continues it once the cluster can run the tasks (it was recorded ``failed``, which cannot be
resumed). The refusal is the pool's, faked here in round 2's fit requests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rengo.hfl.simulation as simulation
from rengo.core.errors import UnrunnableClientTask
from rengo.hfl import FedAvg, LogisticRegressionClient, simulate
from rengo.tracking import RunStore

INIT = [np.zeros((4, 3)), np.zeros(3)]
REFUSAL = "no live node of the Ray cluster could run a client task for 1 s (test)"


class ClusterWithoutNode:
    """A pool that runs the clients as the serial one does until round ``refused``'s fit,
    which the cluster cannot run."""

    def __init__(self, pool: Any, refused: int) -> None:
        self._pool, self._refused, self._fits = pool, refused, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def request(self, requests: Sequence[Any], timeout: float | None = None) -> Iterator[Any]:
        if any(r.key == "fit" for r in requests):
            self._fits += 1
            if self._fits == self._refused:
                raise UnrunnableClientTask(REFUSAL)
        return self._pool.request(requests, timeout)


def _run(client_data: Any, store: RunStore, **options: Any) -> Any:
    def build(cid: str) -> LogisticRegressionClient:
        X, y = client_data[cid]
        return LogisticRegressionClient(X, y, lr=0.1, local_epochs=1, batch_size=8)

    return simulate(
        build, 4, FedAvg(fraction_evaluate=0.0), INIT, 3, seed=2, store=store, **options
    )


def test_a_cluster_with_no_node_for_the_tasks_leaves_the_run_interrupted_to_resume(
    client_data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = simulation.make_pool
    monkeypatch.setattr(
        simulation, "make_pool", lambda *a, **k: ClusterWithoutNode(real(*a, **k), refused=2)
    )
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(UnrunnableClientTask) as stopped:
        _run(client_data, store)
    run = store.list_runs()[0]
    assert run.status == "interrupted"
    assert stopped.value.interrupted_run == run.run_id
    assert [r.round for r in store.rounds(run.run_id)] == [1]
    assert store.checkpoint_rounds(run.run_id) == [1]
    monkeypatch.undo()  # the cluster has grown
    resumed = _run(client_data, store, resume=run.run_id)
    assert [r.server_round for r in resumed.rounds] == [2, 3]
    assert store.get_run(run.run_id).status == "completed"
