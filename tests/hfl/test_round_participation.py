"""How many clients reported a round counts only its training: clients that failed only the
round's evaluation are said apart. With ``fraction_evaluate`` above ``fraction_fit`` (the
cross-device default of ``[dropout]``, which also loses clients from evaluation) the round's
line read "-5 of 4 clients reported" and the mirrors logged ``clients/ok`` -5."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rengo.core.client_record import ClientRecord
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, FedAvg, RoundRecord, simulate
from rengo.tracking import RoundRecord as StoredRound
from rengo.tracking.mirrors import round_scalars


class _EvaluationFails(Client):
    """Trains; every client but "0" fails to evaluate, and "1" also fails to train."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        if self.cid == "1":
            raise ValueError("no data")
        return FitResult([p + 0.1 for p in parameters], 10)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        if self.cid != "0":
            raise ValueError("no test data")
        return EvaluateResult(0.5, 10)


def _history():
    strategy = FedAvg(fraction_fit=0.5, min_fit_clients=1, fraction_evaluate=1.0)
    return simulate(_EvaluationFails, 8, strategy, [np.zeros(3)], 1, seed=0)


def test_clients_that_failed_only_evaluation_do_not_count_against_training() -> None:
    record = _history().rounds[0]
    assert len(record.clients) == 4
    trained_failed = {"1"} & set(record.clients)
    assert set(record.fit_failures) == trained_failed
    assert set(record.evaluation_failures) == {str(c) for c in range(2, 8)} | (
        {"1"} - trained_failed
    )
    assert all(not why.startswith("evaluate:") for why in record.evaluation_failures.values())


def test_the_round_line_never_counts_evaluation_failures_as_missing_reports(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="rengo.hfl"):
        record = _history().rounds[0]
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("round 1/1"))
    reported = 4 - len(record.fit_failures)
    assert line.startswith(f"round 1/1: {reported} of 4 clients reported in "), line
    failed_eval = ", ".join(sorted(record.evaluation_failures))
    assert line.endswith(f"; failed evaluation {failed_eval}"), line


def test_a_hand_made_record_counts_evaluation_failures_apart() -> None:
    record = RoundRecord(
        1, ["a", "b"], {"b": "timed out", "c": "evaluate: raised ValueError: x"}, {}, 0.1
    )
    assert record.fit_failures == {"b": "timed out"}
    assert record.evaluation_failures == {"c": "raised ValueError: x"}


def test_mirrors_count_ok_clients_from_training_and_evaluation_failures_apart() -> None:
    # 4 sampled to train (1 failed), 12 to evaluate (9 failed, client 3 among them, which
    # failed training too): num_failures counts 9, the round line "3 of 4 ...; failed
    # evaluation" names 8
    record = StoredRound(1, 0.5, 4, 9)
    fit = [ClientRecord(1, str(c), "fit", "ok", 5, 0, 0, 0.0, None, None) for c in range(3)]
    fit.append(ClientRecord(1, "3", "fit", "failed", 0, 0, 0, 0.0, "timed out", None))
    evaluate = [
        ClientRecord(1, str(c), "evaluate", "failed" if c > 2 else "ok", 5, 0, 0, 0.0, None, None)
        for c in range(12)
    ]
    values = round_scalars(record, fit + evaluate)
    assert values["clients/ok"] == 3.0
    assert values["clients/failed"] == 1.0
    assert values["clients/evaluate_failed"] == 8.0
    failures = {"3": "timed out"} | {str(c): "evaluate: timed out" for c in range(4, 12)}
    line = RoundRecord(1, [str(c) for c in range(4)], failures, {}, 0.5)
    assert values["clients/evaluate_failed"] == len(line.evaluation_failures)
