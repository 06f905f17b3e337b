"""Progress inside a deployed round: the coordinator's bar counts the parties' replies as
they come (``round 1: fit 2/3``), as a simulation's does, instead of showing nothing until
the round ends."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import numpy as np
import pytest

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.deploy import run_party, serve_coordinator
from rengo.hfl import Client, FedAvg
from rengo.hfl.progress_bar import RoundProgressBar
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

NAMES = ["a", "b", "c"]


class Answering(Client):
    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 1 for p in parameters], 5)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.5, 5)


HUB: dict[str, Any] = {}
"""The hub of the run being served (its parties run in this process)."""


class Asking(Answering):
    """Notes what the hub says its exchanges belong to while this party trains."""

    contexts: ClassVar[list[str]] = []

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        Asking.contexts.append(HUB["hub"].exchange_context)
        return super().fit(parameters, config)


def deployed_run(progress: Any, rounds: int, client: type[Client] = Answering) -> None:
    """Serve ``rounds`` rounds to three in-process parties over plain-text gRPC."""
    ready, address = threading.Event(), {}

    def listening(hub: Any) -> None:
        address["at"] = f"127.0.0.1:{hub.port}"
        HUB["hub"] = hub
        ready.set()

    def coordinator() -> None:
        serve_coordinator(
            FedAvg(min_fit_clients=3), [np.zeros(2)], rounds, "127.0.0.1:0",
            HubSecurity(insecure=True), parties=NAMES, join_timeout=30.0, round_timeout=20.0,
            heartbeat_interval=0.5, on_listening=listening, progress=progress, farewell=0.0,
        )  # fmt: skip

    serving = threading.Thread(target=coordinator, daemon=True)
    serving.start()
    assert ready.wait(30)
    backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=30.0)
    parties = [
        threading.Thread(
            target=run_party,
            args=(address["at"], name, lambda cid: client(), PartyCredentials(insecure=True)),
            kwargs={"heartbeat_interval": 0.5, "backoff": backoff},
            daemon=True,
        )
        for name in NAMES
    ]
    for party in parties:
        party.start()
    for thread in [*parties, serving]:
        thread.join(60)
    assert not serving.is_alive()


@pytest.mark.timeout(90)
def test_the_deployed_bar_counts_the_parties_replies_inside_each_round(monkeypatch: Any) -> None:
    shown: list[str] = []
    bars: list[RoundProgressBar] = []
    original = RoundProgressBar.replies

    def watched(self: RoundProgressBar, key: str, done: int, total: int) -> None:
        original(self, key, done, total)
        bars.append(self)
        shown.append(self._bar.tasks[0].fields["step"])  # what the terminal shows now

    monkeypatch.setattr(RoundProgressBar, "replies", watched)
    deployed_run(progress=True, rounds=2)
    # each round's fit counts up, and clears once every party answered
    expected = [f"round {n}: fit {i}/3" if i < 3 else "" for n in (1, 2) for i in (1, 2, 3)]
    assert shown == expected
    assert bars[0]._bar.tasks[0].completed == 2  # and the bar moved once per round


@pytest.mark.timeout(90)
def test_the_hub_names_the_round_its_exchanges_belong_to_for_waiting_notices() -> None:
    """A waiting notice said "request 'fit'" without the round: the coordinator now tells
    the hub the round before it starts (see test_stragglers for the notice's text)."""
    Asking.contexts = []
    deployed_run(progress=None, rounds=2, client=Asking)
    assert sorted(Asking.contexts) == ["round 1"] * 3 + ["round 2"] * 3
