"""Several threads logging through one store, and a second reader store, lose nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from rengo.tracking import RunStore

THREADS = 4
ROUNDS = 25


def _log_client_rounds(store: RunStore, run_id: str, client: str) -> None:
    for number in range(ROUNDS):
        store.log_client(run_id, number, client, "fit", "ok", 10, 100, 200, 0.01, None, {"n": 1})
        store.log_event(run_id, "info", f"{client} done round {number}", number)


def _capture(errors: list[BaseException], target: Callable[..., None]) -> Callable[..., None]:
    """Wrap a thread target so its exception fails the test instead of vanishing."""

    def run(*args: object) -> None:
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    return run


def test_concurrent_writes_from_threads_are_all_recorded(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("horizontal", {})
        errors: list[BaseException] = []
        threads = [
            threading.Thread(
                target=_capture(errors, _log_client_rounds), args=(store, run_id, f"c{i}")
            )
            for i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for number in range(ROUNDS):  # the coordinator thread logs rounds meanwhile
            store.log_round(run_id, number, {"eval_loss": 1.0 / (number + 1)}, 0.1, THREADS, 0)
        for thread in threads:
            thread.join()
        assert not errors
        stats = store.client_stats(run_id)
        assert [s.client_id for s in stats] == [f"c{i}" for i in range(THREADS)]
        assert all(s.rounds_participated == ROUNDS for s in stats)
        assert all(s.bytes_sent == 100 * ROUNDS and s.num_examples == 10 * ROUNDS for s in stats)
        assert len(store.events(run_id)) == THREADS * ROUNDS
        assert len(store.round_metrics(run_id)["eval_loss"]) == ROUNDS
        assert store.resolve_run_id(run_id) == run_id


def test_second_store_on_same_file_reads_while_first_writes(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(path) as writer, RunStore(path) as reader:
        run_id = writer.start_run("horizontal", {})
        errors: list[BaseException] = []

        def write() -> None:
            for number in range(ROUNDS):
                writer.log_round(run_id, number, {"eval_loss": float(number)}, 0.1, 1, 0)

        thread = threading.Thread(target=_capture(errors, write))
        thread.start()
        seen = 0
        while thread.is_alive():
            rounds = reader.rounds(run_id)
            assert [r.round for r in rounds] == list(range(len(rounds)))  # never a torn read
            seen = len(rounds)
        thread.join()
        assert not errors
        assert seen <= ROUNDS
        assert len(reader.rounds(run_id)) == ROUNDS
