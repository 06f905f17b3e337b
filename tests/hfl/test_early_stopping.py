"""Early stopping from the progress callback: a run of many rounds that the user's callback
ends with StopTraining completes cleanly with the rounds it ran (it was recorded failed, and
the exception reached the caller with no History)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rengo.core.errors import StopTraining
from rengo.hfl import Client, FedAvg, RoundRecord, simulate, softmax_init
from rengo.tracking import RunStore


def test_stop_training_from_the_progress_callback_completes_the_run_after_that_round(
    tmp_path: Path, logistic_client_fn: Callable[[str], Client]
) -> None:
    ids = [str(i) for i in range(6)]

    def stop_at_three(record: RoundRecord) -> None:
        if record.server_round == 3:
            raise StopTraining(f"no improvement by round {record.server_round}")

    with RunStore(tmp_path / "runs.db") as store:
        stopped = simulate(
            logistic_client_fn,
            ids,
            FedAvg(fraction_fit=0.5),
            softmax_init(4, 3),
            rounds=100_000,
            seed=5,
            store=store,
            progress=stop_at_three,
        )
        assert stopped.run_id is not None
        run = store.get_run(stopped.run_id)
        kept = [r.round for r in store.rounds(stopped.run_id)]
        events = [e.message for e in store.events(stopped.run_id)]
    three = simulate(
        logistic_client_fn, ids, FedAvg(fraction_fit=0.5), softmax_init(4, 3), rounds=3, seed=5
    )
    assert run.status == "completed" and kept == [1, 2, 3]
    assert stopped.stopped == "no improvement by round 3" and events[-1] == stopped.stopped
    assert [r.server_round for r in stopped.rounds] == [1, 2, 3]
    for got, expected in zip(stopped.parameters, three.parameters, strict=True):
        np.testing.assert_array_equal(got, expected)  # the model of round 3, as a 3-round run
