"""The round loop hands a round's client outcomes to the run store in one write per phase
(one commit per client cost a simulation of hundreds of tiny clients a third of its wall
time), and still keeps every outcome, also those of an evaluation that raises."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rengo.core.client_record import ClientRecord
from rengo.core.messages import Config, EvaluateResult, FitResult, Metrics
from rengo.core.parameters import Parameters
from rengo.hfl import Client, Coordinator, FedAvg
from rengo.hfl.client import client_handler
from rengo.tracking import RunStore
from rengo.transport.simulation import SerialPool

IDS = [f"c{i}" for i in range(6)]


class Steady(Client):
    """Moves every parameter by 0.1 on 10 examples; evaluates at loss 0.5 (c5 fails)."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 0.1 for p in parameters], 10, {"loss": 1.0})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        if self.cid == "c5":
            raise RuntimeError("evaluation data missing")
        return EvaluateResult(0.5, 10, {"accuracy": 0.9})


class CountingStore(RunStore):
    """A run store that counts its writes of client outcomes, by round and phase."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes: Counter[tuple[int, str]] = Counter()

    def log_clients(self, run_id: str, records: Sequence[ClientRecord]) -> None:
        for key in {(r.round, r.phase) for r in records}:
            self.writes[key] += 1
        super().log_clients(run_id, records)


class FailingEvaluation(FedAvg):
    """FedAvg whose evaluation aggregation raises."""

    def aggregate_evaluate(
        self, server_round: int, results: list[tuple[str, EvaluateResult]]
    ) -> tuple[float, Metrics]:
        raise RuntimeError("aggregation broke")


def _coordinator(strategy: FedAvg, store: RunStore) -> tuple[Coordinator, str]:
    run_id = store.start_run("hfl", {}, name="record-writes")
    pool = SerialPool(client_handler(Steady), IDS)
    return Coordinator(strategy, pool, [np.zeros(3)], store=store, run_id=run_id), run_id


def test_a_rounds_client_outcomes_are_written_once_per_phase_and_all_kept(
    tmp_path: Path,
) -> None:
    store = CountingStore(tmp_path / "runs.db")
    strategy = FedAvg(fraction_evaluate=1.0, min_available_clients=len(IDS))
    coordinator, run_id = _coordinator(strategy, store)
    coordinator.run(2)
    assert store.writes == {(1, "fit"): 1, (1, "evaluate"): 1, (2, "fit"): 1, (2, "evaluate"): 1}
    records = store.client_records(run_id)
    assert Counter((r.round, r.phase, r.status) for r in records) == {
        (1, "fit", "ok"): 6,
        (2, "fit", "ok"): 6,
        (1, "evaluate", "ok"): 5,
        (2, "evaluate", "ok"): 5,
        (1, "evaluate", "failed"): 1,
        (2, "evaluate", "failed"): 1,
    }
    (failed,) = [r for r in records if r.round == 2 and r.status == "failed"]
    assert failed.client_id == "c5" and "evaluation data missing" in str(failed.reason)


def test_evaluation_outcomes_are_kept_when_the_evaluation_aggregation_raises(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs.db")
    strategy = FailingEvaluation(fraction_evaluate=1.0, min_available_clients=len(IDS))
    coordinator, run_id = _coordinator(strategy, store)
    with pytest.raises(Exception, match="aggregation broke"):
        coordinator.run(1)
    evaluated = [r for r in store.client_records(run_id) if r.phase == "evaluate"]
    assert sorted(r.client_id for r in evaluated) == IDS
