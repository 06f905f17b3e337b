"""Central DP over gRPC: a deployed coordinator accounts every round it releases, also one a
party dropped out of (timed out), so the epsilon the run records, and the privacy line that
`rengo runs show` and the model card print, are dp-accounting's for the rounds released; and
the run records the settings that epsilon follows from."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from background import run_all, serve

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.deploy import run_party, serve_coordinator
from rengo.hfl import Client, DifferentialPrivacy, FedAvg
from rengo.tracking import RunStore
from rengo.tracking.tables import epsilon_shown
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import HubSecurity, PartyCredentials

dp_accounting = pytest.importorskip("dp_accounting")

from rengo.privacy import CentralDP  # noqa: E402

PARTIES = ["a", "b", "c", "d"]
SLOW = "d"


class Party(Client):
    """Steps every coordinate by 0.1; the slow party outlasts round 2's deadline."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        if self.name == SLOW and config["server_round"] == 2:
            time.sleep(4.0)
        return FitResult([p + 0.1 for p in parameters], 5, {"loss": 0.3})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.5, 5)


@pytest.mark.timeout(120)
def test_a_deployed_central_dp_run_accounts_every_round_a_party_dropped_out_of_too(
    tmp_path: Path,
) -> None:
    dp = CentralDP(noise_multiplier=1.2, clip_norm=0.5, delta=1e-3, accountant="rdp")
    store_path = tmp_path / "runs.db"

    def coordinator(listening: Callable[[Any], None]) -> None:
        with RunStore(store_path) as store:
            serve_coordinator(
                DifferentialPrivacy(FedAvg(min_fit_clients=3, min_available_clients=4), dp),
                [np.zeros(3)], 3, "127.0.0.1:0", HubSecurity(insecure=True),
                parties=PARTIES, join_timeout=30.0, round_timeout=2.0,
                heartbeat_interval=0.5, on_listening=listening, farewell=0.0, store=store,
            )  # fmt: skip

    serving, address = serve(coordinator, wait=30.0)
    backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=30.0)

    def party(name: str) -> Callable[[], Any]:
        return lambda: run_party(
            address, name, lambda cid: Party(name), PartyCredentials(insecure=True),
            heartbeat_interval=0.5, backoff=backoff,
        )  # fmt: skip

    run_all({name: party(name) for name in PARTIES})
    outcome = serving.outcome()
    assert not isinstance(outcome, BaseException), outcome
    from rengo.tracking.tables import privacy_spent

    with RunStore(store_path) as store:
        (run,) = store.list_runs()
        series = store.round_metrics(run.run_id)
        rounds = store.rounds(run.run_id)
        line = privacy_spent(store, run.run_id)
    assert run.status == "completed"
    # the slow party left round 2 out (on a loaded machine another may miss the 2 s round
    # timeout too: the accounting below holds whoever took part)
    assert len(rounds) == 3 and rounds[1].num_failures >= 1
    recorded = run.config["dp"]
    assert recorded["kind"] == "central" and recorded["noise_multiplier"] == 1.2
    assert recorded["delta"] == 1e-3 and recorded["sampling_rate"] == 1.0

    def epsilon(k: int) -> float:
        accountant = dp_accounting.rdp.RdpAccountant()
        event = dp_accounting.GaussianDpEvent(recorded["noise_multiplier"])
        accountant.compose(dp_accounting.SelfComposedDpEvent(event, k))
        return float(accountant.get_epsilon(recorded["delta"]))

    assert [v for _, v in series["dp_rounds_accounted"]] == [1, 2, 3]
    assert [v for _, v in series["dp_epsilon"]] == pytest.approx([epsilon(k) for k in (1, 2, 3)])
    assert line == f"epsilon {epsilon_shown(epsilon(3))} at delta 0.001 after 3 rounds"
