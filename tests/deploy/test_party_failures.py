"""Deployed, a party whose client raises every round keeps its traceback in its own log, shown
once; the coordinator gets the one-line reason, once, and drops the party from each round."""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import PeerFailure, RoundFailure
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.deploy import run_party, serve_coordinator
from rengo.hfl import Client, FedAvg
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

NAMES = ["a", "b", "broken"]


class PartyClient(Client):
    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        if self.cid == "broken":
            return self.read_labels()
        return FitResult([p + 1 for p in parameters], 5)

    def read_labels(self) -> FitResult:
        raise KeyError("label")

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


@pytest.mark.timeout(90)
def test_a_failing_party_shows_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rengo")
    ready, result = threading.Event(), {}

    def listening(hub: Any) -> None:
        result["address"] = f"127.0.0.1:{hub.port}"
        ready.set()

    def coordinator() -> None:
        result["history"] = serve_coordinator(
            FedAvg(min_fit_clients=2), [np.zeros(2)], 3, "127.0.0.1:0",
            HubSecurity(insecure=True), parties=NAMES, join_timeout=30.0, round_timeout=20.0,
            heartbeat_interval=0.5, on_listening=listening,
        )  # fmt: skip

    serving = threading.Thread(target=coordinator, daemon=True)
    serving.start()
    assert ready.wait(30)
    backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=30.0)
    parties = [
        threading.Thread(
            target=run_party,
            args=(result["address"], name, PartyClient, PartyCredentials(insecure=True)),
            kwargs={"heartbeat_interval": 0.5, "backoff": backoff},
            daemon=True,
        )
        for name in NAMES
    ]
    for party in parties:
        party.start()
    for thread in [*parties, serving]:
        thread.join(60)
    history = result["history"]
    assert [sorted(r.failures) for r in history.rounds] == [["broken"]] * 3
    party_side = [r for r in caplog.records if r.name == "rengo.transport" and r.exc_info]
    assert len(party_side) == 1 and "KeyError" in party_side[0].getMessage()
    assert party_side[0].exc_info is not None
    frames = [f.name for f in traceback.extract_tb(party_side[0].exc_info[2])]
    assert "read_labels" in frames
    coordinator_side = [
        r
        for r in caplog.records
        if r.name == "rengo.hfl" and r.levelno == logging.WARNING and "broken" in r.getMessage()
    ]
    assert len(coordinator_side) == 1


@pytest.mark.timeout(90)
def test_parties_are_told_the_run_failed_and_end_with_an_error_not_finished() -> None:
    ready, result = threading.Event(), {}

    def listening(hub: Any) -> None:
        result["address"] = f"127.0.0.1:{hub.port}"
        ready.set()

    def coordinator() -> None:
        try:  # 2 of the 3 parties report, but the round needs all 3: round 1 fails
            serve_coordinator(
                FedAvg(min_fit_clients=3), [np.zeros(2)], 2, "127.0.0.1:0",
                HubSecurity(insecure=True), parties=NAMES, join_timeout=30.0,
                round_timeout=20.0, heartbeat_interval=0.5, on_listening=listening,
            )  # fmt: skip
        except RoundFailure as exc:
            result["coordinator"] = exc

    def party(name: str) -> None:
        backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=30.0)
        try:
            result[name] = run_party(
                result["address"], name, PartyClient, PartyCredentials(insecure=True),
                heartbeat_interval=0.5, backoff=backoff, on_finished=lambda t: None,
            )  # fmt: skip
        except PeerFailure as exc:
            result[name] = exc

    serving = threading.Thread(target=coordinator, daemon=True)
    serving.start()
    assert ready.wait(30)
    parties = [threading.Thread(target=party, args=(n,), daemon=True) for n in NAMES]
    for thread in parties:
        thread.start()
    for thread in [*parties, serving]:
        thread.join(60)
    assert "round 1 failed: only 2 of 3 clients reported" in str(result["coordinator"])
    for name in NAMES:
        told = result[name]
        assert isinstance(told, PeerFailure), told  # not a clean return: the run failed
        assert told.role == "coordinator"
        assert str(told).startswith(f"party {name}: the run failed (")  # no store: no run id
        assert "failed (round 1 failed; the coordinator's operator has the reason)" in str(told)
        assert "only 2 of 3" not in str(told)  # the reason names others and quotes their errors
