"""Under secure aggregation the run's record says, round by round, what the coordinator
learnt: the sum over which clients it unmasked, the Shamir threshold and graph degree, and
who dropped at which stage (their masks were rebuilt from the survivors' shares). Before, an
auditor found only the settings (a threshold fraction) and the dropouts, not the threshold
nor whose sum was revealed."""

from __future__ import annotations

import numpy as np

from rengo.hfl import FedAvg, LogisticRegressionClient, SimulatedDropout, simulate
from rengo.hfl.secagg import SecAggPlus
from rengo.privacy import SecAgg
from rengo.tracking import RunStore

RECORD = "secure aggregation (SecAgg+): the coordinator unmasked only the sum of "


def test_each_secure_round_records_whose_sum_was_unmasked_and_at_which_threshold(
    tmp_path,
) -> None:
    rng = np.random.default_rng(0)
    data = {str(i): (rng.normal(size=(10, 4)), rng.integers(0, 3, 10)) for i in range(12)}
    config = SecAgg(neighbours=8)
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: LogisticRegressionClient(*data[cid], lr=0.1), list(data),
            FedAvg(min_fit_clients=5, fraction_evaluate=0.0), [np.zeros((4, 3)), np.zeros(3)],
            3, seed=7, client_mods=[SimulatedDropout(dropout=0.1)], store=store,
            workflow=SecAggPlus(config),
        )  # fmt: skip
        assert history.run_id is not None
        events = [e for e in store.events(history.run_id) if e.message.startswith(RECORD)]
        records = store.client_records(history.run_id)
    assert [e.round for e in events] == [1, 2, 3]
    degree = config.graph_degree(12)
    threshold = config.reconstruction_threshold(degree)
    dropped_any = False
    for event in events:
        fit = [r for r in records if r.round == event.round and r.phase == "fit"]
        summed = sorted(r.client_id for r in fit if r.status == "ok")
        lost = sorted(r.client_id for r in fit if r.status != "ok")
        assert f"sum of {len(summed)} clients' updates ({', '.join(summed)})" in event.message
        assert f"Shamir threshold t = {threshold} of each client's {degree} neighbours" in (
            event.message
        )
        if lost:
            dropped_any = True
            assert f"dropped at secagg.masked_input: {', '.join(lost)}" in event.message
    assert dropped_any  # the seed drops someone, so the record names them
