"""Deployed, a run store that cannot be written mid-run (its disk full, made read-only)
interrupts the run instead of failing it: the coordinator names the store and the way on,
the rounds and checkpoints written before stand, the parties are not told the run failed
(they keep retrying), and ``resume`` continues it to the model an uninterrupted run trains."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.deploy import run_party, serve_coordinator
from rengo.hfl import Client, FedAvg
from rengo.tracking import RunStore, StoreUnwritableError
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

NAMES = ["a", "b"]
ROUNDS = 3


class StepClient(Client):
    """Adds 1 to every value: after round k the global model is k everywhere."""

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 1 for p in parameters], 5)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


class ReadOnlyAtRound(RunStore):
    """A run store whose file turns read-only for the checkpoint of round ``at`` (SQLite
    refuses the write as it would on a read-only or full disk), writable again after."""

    def __init__(self, path: Path, at: int) -> None:
        super().__init__(path)
        self.at = at

    def save_checkpoint(self, run_id: str, round: int, blob: bytes) -> None:
        if round != self.at:
            super().save_checkpoint(run_id, round, blob)
            return
        assert self._conn is not None
        self._conn.execute("PRAGMA query_only = ON")
        try:
            super().save_checkpoint(run_id, round, blob)
        finally:
            self._conn.execute("PRAGMA query_only = OFF")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(120)
def test_an_unwritable_store_interrupts_the_run_which_resumes_to_the_uninterrupted_model(
    tmp_path: Path,
) -> None:
    listen = f"127.0.0.1:{_free_port()}"
    told: dict[str, list[str]] = {name: [] for name in NAMES}

    def serve(store: RunStore, resume: str | None = None) -> Any:
        return serve_coordinator(
            FedAvg(min_fit_clients=2), [np.zeros(2)], ROUNDS, listen,
            HubSecurity(insecure=True), parties=NAMES, join_timeout=30.0,
            round_timeout=20.0, heartbeat_interval=0.5, store=store, resume=resume,
        )  # fmt: skip

    def party(name: str) -> None:
        backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=60.0)
        run_party(
            listen, name, lambda _: StepClient(), PartyCredentials(insecure=True),
            heartbeat_interval=0.5, backoff=backoff, on_finished=told[name].append,
        )  # fmt: skip

    parties = [threading.Thread(target=party, args=(n,), daemon=True) for n in NAMES]
    for thread in parties:
        thread.start()
    path = tmp_path / "runs.db"
    with ReadOnlyAtRound(path, at=2) as store, pytest.raises(StoreUnwritableError) as caught:
        serve(store)
    with RunStore(path) as store:
        (run,) = store.list_runs()
        assert run.status == "interrupted"
        assert [r.round for r in store.rounds(run.run_id)] == [1, 2]
        assert store.checkpoint_rounds(run.run_id) == [1]
    message = str(caught.value)
    assert str(path) in message and "readonly database" in message
    assert f"--resume {run.run_id}" in message
    assert all(not words for words in told.values())  # not told it failed: still retrying
    assert all(thread.is_alive() for thread in parties)

    with RunStore(path) as store:
        history = serve(store, resume=run.run_id)
        assert store.get_run(run.run_id).status == "completed"
        assert store.checkpoint_rounds(run.run_id) == [ROUNDS]
    for thread in parties:
        thread.join(30)
    assert told == {name: [f"run {run.run_id} completed"] for name in NAMES}
    np.testing.assert_array_equal(history.parameters[0], np.full(2, float(ROUNDS)))
