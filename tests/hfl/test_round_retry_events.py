"""A round that fell short and ran again did not fail: a deployed round short of a party that
restarted mid-round and rejoined logged "ERROR round 2 failed: only 2 of 3 clients
reported" and kept it as an error event of a run that then completed every round."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from rengo.core.errors import RoundFailure
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, Coordinator, FedAvg, make_pool
from rengo.hfl.coordinator import RoundShortOfClients
from rengo.tracking import RunStore


class OnceLost(Client):
    """``flaky`` fails its first fit of round 2 (as a party whose link dropped would)."""

    failed: ClassVar[set[int]] = set()

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        server_round = int(config["server_round"])  # type: ignore[arg-type]
        if self.cid == "flaky" and server_round == 2 and server_round not in OnceLost.failed:
            OnceLost.failed.add(server_round)
            raise ConnectionError("connection lost")
        return FitResult([p + 1 for p in parameters], 10)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


def _serve(store: RunStore, retry: bool) -> tuple[str, list[RoundShortOfClients]]:
    OnceLost.failed = set()
    run_id = store.start_run("hfl-deployed", {}, name="retry")
    asked: list[RoundShortOfClients] = []

    def retry_round(server_round: int, failure: RoundShortOfClients) -> bool:
        asked.append(failure)
        return retry

    coordinator = Coordinator(
        FedAvg(min_fit_clients=3, fraction_evaluate=0.0),
        make_pool(OnceLost, ["a", "b", "flaky"], "serial"),
        [np.zeros(1)],
        store=store,
        run_id=run_id,
    )
    coordinator.run(3, retry_round=retry_round)
    return run_id, asked


def test_a_round_that_runs_again_is_not_logged_or_recorded_as_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rengo")
    with RunStore(tmp_path / "runs.db") as store:
        run_id, asked = _serve(store, retry=True)
        assert len(asked) == 1 and "only 2 of 3 clients reported" in str(asked[0])
        assert [r.round for r in store.rounds(run_id)] == [1, 2, 3]
        errors = [e.message for e in store.events(run_id) if e.level == "error"]
    assert errors == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_round_the_retry_hook_gives_up_on_fails_once_logged_and_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rengo")
    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(RoundFailure, match="round 2 failed: only 2 of 3 clients reported"):
            _serve(store, retry=False)
        (run,) = store.list_runs()
        errors = [e.message for e in store.events(run.run_id) if e.level == "error"]
    assert len(errors) == 1 and errors[0].startswith("round 2 failed: only 2 of 3 clients")
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and logged[0] == errors[0]
