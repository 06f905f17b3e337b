"""A run store with hand-checkable runs of every kind the dashboard shows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rengo.showcase import FIVE_PARTICIPANTS
from rengo.tournament import simulate_tournament
from rengo.tracking import RunStore
from rengo.tracking.records import PartyPresence
from rengo.tracking.tournament_records import record_tournament_round, tournament_summary

ACCURACY = [0.5, 0.625, 0.75]
LOSS = [1.0, 0.75, math.nan]
ROUND_SECONDS = [1.5, 1.25, 1.0]
CLIENT_LOSS = {"c1": [0.9, 0.6, 0.3], "c2": [1.0, 0.7, 0.4], "c3": [1.1, None, 0.5]}
CLIENT_ACCURACY = {"c1": [0.6, 0.7, 0.8], "c2": [0.5, 0.6, 0.7], "c3": [0.1, 0.2, 0.3]}
TIMEOUT = "timed out (limit 5s)"
CONTRIBUTION = {"c1": 0.5, "c2": 0.25, "c3": -0.125}
PAYOUT = {"c1": 6000, "c2": 4000}


@dataclass
class Recorded:
    path: Path
    alpha: str
    beta: str
    deployed: str
    tournament: str
    tournament_sim: object


def record_alpha(store: RunStore) -> str:
    """Three rounds, three clients; c3's fit fails in round 2; GTG values and payouts."""
    run = store.start_run("hfl", {"strategy": "FedAvg", "rounds": 3, "lr": 0.1}, "alpha", 3)
    for i, number in enumerate((1, 2, 3)):
        failures = 0
        for client in ("c1", "c2", "c3"):
            loss = CLIENT_LOSS[client][i]
            if loss is None:
                store.log_client(run, number, client, "fit", "failed", 0, 100, 0, 5.0, TIMEOUT)
                failures += 1
            else:
                store.log_client(
                    run, number, client, "fit", "ok", 10, 100, 50, 0.5, None, {"loss": loss}
                )
            store.log_client(
                run,
                number,
                client,
                "evaluate",
                "ok",
                5,
                100,
                10,
                0.1,
                None,
                {"accuracy": CLIENT_ACCURACY[client][i]},
            )
        store.log_round(
            run,
            number,
            {"central_accuracy": ACCURACY[i], "central_loss": LOSS[i]},
            ROUND_SECONDS[i],
            3,
            failures,
        )
        store.log_contribution(run, number, "c1", "gtg", 0.2)
    for client, value in CONTRIBUTION.items():
        store.log_contribution(run, None, client, "gtg", value)
    for client, amount in PAYOUT.items():
        store.append_ledger(run, None, client, "reward", amount, f"share of {client}")
    store.log_event(run, "info", "party c1 joined")
    store.log_event(run, "warning", "client c3 dropped: " + TIMEOUT, 2)
    store.save_checkpoint(run, 3, b"not read by the dashboard")
    store.finish_run(run, "completed", {"wall_time_s": 3.75})
    return run


def record_tournament(store: RunStore) -> tuple[str, object]:
    sim = simulate_tournament(FIVE_PARTICIPANTS, rounds=2, seed=1)
    run = store.start_run("tournament", {"rounds": 2}, name="signals")
    for result in sim.results:
        record_tournament_round(store, run, result, "NMR")
    store.finish_run(run, "completed", tournament_summary(sim.results, [1, 2], "NMR", 2))
    return run, sim


@pytest.fixture
def recorded(tmp_path: Path) -> Recorded:
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        alpha = record_alpha(store)
        beta = store.start_run("hfl", {"strategy": "FedAdam", "rounds": 3, "lr": 0.05}, "beta", 3)
        for number, value in ((1, 0.55), (2, 0.6)):
            store.log_round(beta, number, {"central_accuracy": value}, 1.0, 2, 0)
        deployed = store.start_run("hfl-deployed", {"rounds": 5, "listen": "0.0.0.0:7443"}, "live")
        now = datetime.now(timezone.utc)
        store.record_presence(
            deployed,
            [
                PartyPresence("bank", True, "ipv4:10.0.0.2:5000", now, now, None, None, 1, 10, 20),
                PartyPresence(
                    "clinic",
                    False,
                    "ipv4:10.0.0.3:5000",
                    now - timedelta(seconds=30),
                    now - timedelta(seconds=9),
                    now - timedelta(seconds=4),
                    "no heartbeat for 5s",
                    2,
                    7,
                    8,
                ),
            ],
        )
        tournament, sim = record_tournament(store)
    return Recorded(path, alpha, beta, deployed, tournament, sim)
