"""A simulated run's summary holds every byte sent to and received from its clients, as a
deployed run's does: the totals of the per-client, per-round records."""

from __future__ import annotations

import numpy as np

from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init
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
