"""A simulated run's summary holds every byte sent to and received from its clients, as a
deployed run's does: the totals of the per-client, per-round records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.hfl import FedAvg, LogisticRegressionClient, RoundRecord, simulate, softmax_init
from rengo.tracking import RunStore


def client(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    return LogisticRegressionClient(rng.normal(size=(20, 4)), rng.integers(0, 3, 20))


def test_a_simulated_runs_summary_totals_its_clients_traffic() -> None:
    store = RunStore(":memory:")
    history = simulate(client, 3, FedAvg(fraction_evaluate=1.0), softmax_init(4, 3), 2, store=store)
    assert history.run_id is not None
    records = store.client_records(history.run_id)
    assert {r.phase for r in records} == {"fit", "evaluate"}
    summary = store.get_run(history.run_id).summary
    assert summary["bytes_sent"] == sum(r.bytes_sent for r in records) > 0
    assert summary["bytes_received"] == sum(r.bytes_received for r in records) > 0


def test_a_resumed_simulation_counts_every_session_and_keeps_the_count_after_each_round(
    tmp_path: Path,
) -> None:
    """The stored summary holds the traffic so far after each round (a session killed
    before its end leaves it), and a resumed run's totals go on from it, each byte once."""
    seen: list[int | None] = []

    def stop(record: RoundRecord) -> None:
        (run,) = store.list_runs()
        seen.append((run.summary or {}).get("bytes_sent"))
        if record.server_round == 2:
            raise KeyboardInterrupt

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            simulate(client, 3, FedAvg(), softmax_init(4, 3), 4, seed=1, store=store, progress=stop)
        (run,) = store.list_runs()
        sent = [sum(r.bytes_sent for r in store.client_records(run.run_id) if r.round <= n)
                for n in (1, 2)]  # fmt: skip
        assert seen == sent and sent[0] > 0
        simulate(client, 3, FedAvg(), softmax_init(4, 3), 4, seed=1, store=store,
                 resume=run.run_id)  # fmt: skip
        records = store.client_records(run.run_id)
        summary = store.get_run(run.run_id).summary
        assert {r.round for r in records} == {1, 2, 3, 4}
        assert summary["bytes_sent"] == sum(r.bytes_sent for r in records)
        assert summary["bytes_received"] == sum(r.bytes_received for r in records)
