"""Several processes writing one run store at once (a shell loop or a Slurm array of
``rengo run``): every run is recorded with every round, under ids of its own, none of the
writers sees "database is locked" or a store it takes for damaged."""

from __future__ import annotations

import multiprocessing
import traceback
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from rengo.tracking import RunStore
from rengo.tracking.records import ClientRecord

WRITERS = 6
ROUNDS = 60
CLIENTS = 3


def _write_one_run(path: str, writer: int, barrier: Barrier, results: Queue[Any]) -> None:
    """Open the store and record one run of :data:`ROUNDS` rounds as fast as possible, all
    writers released at the same moment; report the run id, or the traceback."""
    try:
        barrier.wait()
        with RunStore(path) as store, store.run("hfl", {"writer": writer}, name="same") as run:
            assert run.run_id is not None
            for number in range(ROUNDS):
                records = [
                    ClientRecord(number, f"w{writer}-c{k}", "fit", "ok", 1, 10, 20, 0.0, None, None)
                    for k in range(CLIENTS)
                ]
                store.log_clients(run.run_id, records)
                store.log_round(run.run_id, number, {"writer": writer}, 0.0, CLIENTS, 0)
                store.log_event(run.run_id, "info", f"w{writer} round {number}", number)
        results.put((writer, run.run_id, None))
    except BaseException:
        results.put((writer, None, traceback.format_exc()))


def _run_writers(path: Path) -> dict[int, str]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    results: Queue[Any] = context.Queue()
    processes = [
        context.Process(target=_write_one_run, args=(str(path), w, barrier, results))
        for w in range(WRITERS)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=240) for _ in processes]
    for process in processes:
        process.join(60)
    failures = [error for _, _, error in reports if error is not None]
    assert not failures, failures[0]
    return {writer: run_id for writer, run_id, _ in reports}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fresh", [True, False], ids=["new store", "existing store"])
def test_processes_writing_one_store_at_once_keep_every_run_and_round(
    tmp_path: Path, fresh: bool
) -> None:
    path = tmp_path / "store" / "runs.db"
    if not fresh:
        RunStore(path).close()
    run_ids = _run_writers(path)
    assert len(set(run_ids.values())) == WRITERS  # same name, same second: ids of their own
    with RunStore(path, read_only=True) as store:
        runs = store.list_runs(limit=None)
        assert sorted(r.run_id for r in runs) == sorted(run_ids.values())
        assert {r.status for r in runs} == {"completed"}
        assert {r.name for r in runs} == {"same"}
        for writer, run_id in run_ids.items():
            assert store.get_run(run_id).config == {"writer": writer}
            rounds = store.rounds(run_id)
            assert [r.round for r in rounds] == list(range(ROUNDS))
            assert {r.metrics["writer"] for r in rounds} == {writer}  # no other writer's rows
            clients = store.client_records(run_id)
            assert len(clients) == ROUNDS * CLIENTS
            assert {c.client_id.split("-")[0] for c in clients} == {f"w{writer}"}
            assert [e.message for e in store.events(run_id)] == [
                f"w{writer} round {n}" for n in range(ROUNDS)
            ]
    assert not [f.name for f in path.parent.iterdir() if f.name.startswith(".runs.db.new")]
