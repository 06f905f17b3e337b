"""A deployed vertical run whose run store cannot be written mid-run (its disk full, made
read-only) is interrupted, not failed, when it keeps checkpoints: the error names the store
and the fix, the run is recorded ``interrupted`` with the epochs written before, and
``resume`` continues it, as a horizontal run does (before, it ended ``failed``, though
every role's checkpoints stood)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from background import run_all, serve

from rengo.deploy import run_vertical_party, serve_vertical_coordinator
from rengo.tracking import RunStore, StoreUnwritableError
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.vfl import HeteroLRConfig, PartyData, PartyTable

PARTIES = ["card", "bank"]
FAST = Backoff(initial=0.05, maximum=0.2, give_up_after=5.0)


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
    certs = tmp_path / "certs"
    init_certificates(certs, PARTIES)
    rng = np.random.default_rng(0)
    ids = np.array([f"c{i:02d}" for i in range(60)])
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + x[:, 2] > 0).astype(float)
    data = {
        "card": PartyData(PartyTable(ids, x[:, :2]), y),
        "bank": PartyData(PartyTable(ids, x[:, 2:])),
    }

    def attempt(store: RunStore, resume: str | None = None) -> Any:
        hub, address = serve(
            lambda listening: serve_vertical_coordinator(
                "127.0.0.1:0", HubSecurity.from_directory(certs), PARTIES, "card",
                algorithm="hetero_lr",
                config=HeteroLRConfig(key_bits=512, epochs=4, batch_size=30, tol=0.0),
                score=False, join_timeout=20.0, heartbeat_interval=0.5,
                on_listening=listening, store=store, checkpoint_dir=tmp_path / "coordinator",
                seed=1, passphrase="a passphrase kept apart", resume=resume,
            )
        )  # fmt: skip
        roles = {
            name: (
                lambda n=name: run_vertical_party(
                    address, n, data[n], PartyCredentials.from_directory(certs, n),
                    heartbeat_interval=0.5, backoff=FAST, linger=2.0,
                    checkpoint_dir=tmp_path / n,
                )
            )
            for name in PARTIES
        }  # fmt: skip
        run_all(roles, timeout=90)
        return hub.outcome(90)

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
