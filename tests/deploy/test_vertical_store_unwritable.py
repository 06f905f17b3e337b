"""A deployed vertical run whose run store cannot be written mid-run (its disk full, made
read-only) is interrupted, not failed, when it keeps checkpoints: the error names the store
and the fix, the run is recorded ``interrupted`` with the epochs written before, and
``resume`` continues it, as a horizontal run does (before, it ended ``failed``, though
every role's checkpoints stood)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from checkpointed_lr import checkpointed_run, two_parties

from rengo.tracking import RunStore, StoreUnwritableError


class ReadOnlyAtEpoch(RunStore):
    """A run store whose file turns read-only for the record of epoch ``at`` (SQLite refuses
    the write as on a read-only or full disk), writable again after."""

    def __init__(self, path: Path, at: int) -> None:
        super().__init__(path)
        self.at = at

    def log_round(self, run_id: str, round: int, *args: Any, **kwargs: Any) -> None:
        if round != self.at:
            super().log_round(run_id, round, *args, **kwargs)
            return
        assert self._conn is not None
        self._conn.execute("PRAGMA query_only = ON")
        try:
            super().log_round(run_id, round, *args, **kwargs)
        finally:
            self._conn.execute("PRAGMA query_only = OFF")


@pytest.mark.timeout(180)
def test_an_unwritable_store_interrupts_a_checkpointed_vertical_run(tmp_path: Path) -> None:
    data = two_parties(tmp_path)

    def attempt(store: RunStore, resume: str | None = None) -> Any:
        return checkpointed_run(tmp_path, data, store, epochs=4, resume=resume)[0]

    path = tmp_path / "runs.db"
    ended = attempt(ReadOnlyAtEpoch(path, at=2))
    assert isinstance(ended, StoreUnwritableError), ended
    assert str(path) in str(ended) and "readonly database" in str(ended)
    with RunStore(path, read_only=True) as reader:
        (run,) = reader.list_runs()
        assert run.status == "interrupted"
        assert [r.round for r in reader.rounds(run.run_id)] == [1]
    with RunStore(path) as store:
        report = attempt(store, resume=run.run_id)
        assert not isinstance(report, BaseException), report
        assert store.get_run(run.run_id).status == "completed"
        assert [r.round for r in store.rounds(run.run_id)] == [1, 3, 4]  # 2 was never kept
