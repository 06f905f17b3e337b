"""A deployed horizontal run cut off between the checkpoint of the round early stopping ended
it after and its completion: resumed, it waits for no party and runs no round, and is
recorded completed with the stop's reason (it waited for every party, then ran nothing)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from background import serve
from child_processes import Processes
from digits_app import SEED, initial_parameters, strategy

from rengo.deploy import serve_coordinator
from rengo.hfl import EarlyStopping, History
from rengo.hfl.coordinator import RoundRecord
from rengo.tracking import RunStore
from rengo.transport.grpc_security import HubSecurity

PARTIES = ["p0", "p1"]
ROUNDS = 10


def _serve(certs: Path, store: RunStore, stopper: EarlyStopping, **options: Any) -> Any:
    def start(on_listening: Any) -> History:
        return serve_coordinator(
            replace(strategy(len(PARTIES)), fraction_evaluate=1.0),
            initial_parameters(),
            ROUNDS,
            "127.0.0.1:0",
            HubSecurity.from_directory(certs),
            parties=PARTIES,
            round_timeout=20.0,
            seed=SEED,
            store=store,
            heartbeat_interval=0.5,
            on_listening=on_listening,
            observers=[stopper],
            **options,
        )

    return serve(start)


@pytest.mark.timeout(120)
def test_a_run_resumed_after_its_early_stop_waits_for_no_party_and_runs_nothing(
    certs: Path, processes: Processes, tmp_path: Path
) -> None:
    def rule() -> EarlyStopping:
        return EarlyStopping("eval_loss", patience=1, min_delta=0.3)

    stopper = rule()

    def cut_off_at_the_stop(record: RoundRecord) -> None:
        if stopper.stop_reason() is not None:  # the round's checkpoint is written
            raise KeyboardInterrupt

    with RunStore(tmp_path / "runs.db") as store:
        first, address = _serve(
            certs, store, stopper, join_timeout=120.0, progress=cut_off_at_the_stop
        )
        for name in PARTIES:
            processes.party(address, name, certs)
        assert isinstance(first.outcome(90), KeyboardInterrupt)
        (run,) = store.list_runs()
        stopped_after = max(store.checkpoint_rounds(run.run_id))
        assert run.status == "interrupted" and 1 < stopped_after < ROUNDS
        # no party is started again: before, this waited for them, and after the deadline
        # left the run interrupted (PartiesLost)
        again, _ = _serve(certs, store, rule(), join_timeout=3.0, resume=run.run_id)
        history = again.outcome(60)
        assert isinstance(history, History), history
        assert history.rounds == [] and history.stopped is not None
        assert history.stopped.startswith("early stopping: eval_loss has not got lower")
        record = store.get_run(run.run_id)
        events = [e.message for e in store.events(run.run_id)]
        assert record.status == "completed"
        assert history.stopped in events  # the reason, recorded
        assert not any("starting without" in e or "missing" in e for e in events)
        assert [r.round for r in store.rounds(run.run_id)] == list(range(1, stopped_after + 1))
