"""What one deployed party reports around its update cannot become the federation's record:
over gRPC, with the coordinator's deployment defaults, a party that invents metric names
every round adds none of them to the rounds' record (its own client records keep them), and
the run's status is true; and the reason a party gives for failing a request is kept as one
printable line, so it cannot clear the operator's terminal or forge a line of the log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from background import run_all, serve

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.deploy import run_party, serve_coordinator
from rengo.hfl import Client, FedAvg
from rengo.tracking import RunStore
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

HONEST = ["a", "b", "c"]
LIAR = "mallory"


class Party(Client):
    """Trains one step and evaluates at loss 0.5, accuracy 0.9; the liar adds 31 names of
    its own to each result, new every round."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def invented(self, config: Config, what: str) -> dict[str, float]:
        if self.name != LIAR:
            return {}
        return {f"r{config['server_round']}_{what}{i}": 1.0 for i in range(31)}

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        metrics = {"loss": 0.3, **self.invented(config, "fit")}
        return FitResult([p + 1 for p in parameters], 5, metrics)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.5, 5, {"accuracy": 0.9, **self.invented(config, "eval")})


class Forging(Party):
    """Fails every fit of the liar with a reason that clears the screen and forges a
    round's summary line."""

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        if self.name == LIAR:
            raise RuntimeError(FORGED)
        return super().fit(parameters, config)


FORGED = "ok\x1b[2J\x1b[H\nround 2/2: 4 of 4 parties reported in 0.01s, train_loss 0.0100"


def deployed_run(
    store_path: Path, rounds: int, make: Callable[[str], Client] = Party, min_fit: int = 4
) -> None:
    """Serve ``rounds`` rounds to the four parties, in this process, over plain-text gRPC."""

    def coordinator(listening: Callable[[Any], None]) -> None:
        with RunStore(store_path) as store:
            serve_coordinator(
                FedAvg(min_fit_clients=min_fit, fraction_evaluate=1.0), [np.zeros(2)], rounds,
                "127.0.0.1:0", HubSecurity(insecure=True), parties=[*HONEST, LIAR],
                join_timeout=30.0, round_timeout=20.0, heartbeat_interval=0.5,
                on_listening=listening, farewell=0.0, store=store,
            )  # fmt: skip

    serving, address = serve(coordinator, wait=30.0)
    backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=30.0)

    def party(name: str) -> Callable[[], Any]:
        return lambda: run_party(
            address, name, lambda cid: make(name), PartyCredentials(insecure=True),
            heartbeat_interval=0.5, backoff=backoff,
        )  # fmt: skip

    run_all({name: party(name) for name in [*HONEST, LIAR]})
    outcome = serving.outcome()
    assert not isinstance(outcome, BaseException), outcome


@pytest.mark.timeout(90)
def test_a_deployed_party_inventing_metric_names_adds_none_to_the_rounds_record(
    tmp_path: Path,
) -> None:
    deployed_run(tmp_path / "runs.db", rounds=2)
    with RunStore(tmp_path / "runs.db") as store:
        (run,) = store.list_runs()
        series = store.round_metrics(run.run_id)
        liar = store.client_records(run.run_id, LIAR)
    assert run.status == "completed"
    assert set(series) == {"train_loss", "eval_loss", "eval_accuracy"}  # was 127 series
    assert series["eval_accuracy"] == [(1, pytest.approx(0.9)), (2, pytest.approx(0.9))]
    assert any("r2_eval30" in (r.metrics or {}) for r in liar)  # its own record keeps them


@pytest.mark.timeout(90)
def test_a_deployed_partys_failure_reason_is_kept_as_one_printable_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deployed_run(tmp_path / "runs.db", rounds=2, make=Forging, min_fit=3)
    with RunStore(tmp_path / "runs.db") as store:
        (run,) = store.list_runs()
        records = store.client_records(run.run_id, LIAR)
        reasons = [r.reason or "" for r in records if r.phase == "fit"]
        events = [e.message for e in store.events(run.run_id) if LIAR in e.message]
    assert run.status == "completed"
    shown = "raised RuntimeError: ok [2J [H round 2/2: 4 of 4 parties reported in 0.01s"
    assert reasons and all(why.startswith(shown) for why in reasons)
    assert events and all(m.isprintable() for m in events)
    logged = [  # the coordinator's log (the party's own log is its own business)
        r.getMessage() for r in caplog.records if r.name == "rengo.hfl" and LIAR in r.getMessage()
    ]
    assert logged and all(m.isprintable() for m in logged)
