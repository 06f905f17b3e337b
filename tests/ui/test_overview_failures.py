"""The dashboard's per-round client counts follow the round line's rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rengo.hfl import FedAvg, LogisticRegressionClient, SimulatedDropout, simulate
from rengo.tracking import RunStore
from rengo.ui.views import run_overview


def test_overview_counts_clients_that_failed_training_apart_from_evaluation(
    tmp_path: Path,
) -> None:
    # 4 of 40 clients train, all 40 evaluate: the rounds' evaluation failures outnumber
    # their training clients, and the "Clients" card (num_clients - fit_failures) must
    # still read as the round line's "N of M clients reported"
    rng = np.random.default_rng(7)
    data = {str(i): (rng.normal(size=(30, 4)), rng.integers(0, 3, 30)) for i in range(40)}
    store = RunStore(tmp_path / "runs.db")
    history = simulate(
        lambda cid: LogisticRegressionClient(*data[cid], lr=0.1),
        40,
        FedAvg(fraction_fit=0.1, min_fit_clients=2, fraction_evaluate=1.0, min_evaluate_clients=2),
        [np.zeros((4, 3)), np.zeros(3)],
        3,
        seed=0,
        client_mods=[SimulatedDropout(dropout=0.3)],
        store=store,
    )
    rounds = run_overview(store, history.run_id)["rounds"]
    assert len(rounds) == len(history.rounds) == 3
    assert any(r["num_failures"] > r["num_clients"] for r in rounds)  # the case at stake
    for shown, record in zip(rounds, history.rounds, strict=True):
        assert shown["fit_failures"] == len(record.fit_failures)
        assert shown["num_clients"] - shown["fit_failures"] == len(record.clients) - len(
            record.fit_failures
        )
        assert shown["evaluate_failures"] == len(record.evaluation_failures)
