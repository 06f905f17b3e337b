"""A party cannot capture or crash the model: against a real coordinator process and real
party processes, a party that lies about its example count or sends values far outside the
model's scale is capped or refused with a reason, the model stays finite and close to what
honest parties make, and every refusal names the party and why."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fleet import Fleet
from hostile_procs import SEED, Liar
from sklearn.datasets import load_digits

from rengo.core.codec import decode
from rengo.hfl import ResultChecks, simulate, softmax_predict
from rengo.tracking import RunStore

sys.path.insert(0, str(Path(__file__).parent.parent))
from digits_app import client_fn, initial_parameters, strategy

HONEST = ["p0", "p1", "p2", "p3"]
LIAR = "p4"


def accuracy(parameters: list[np.ndarray]) -> float:
    X, y = load_digits(return_X_y=True)
    return float(np.mean(softmax_predict(parameters, X / 16.0) == y))


def simulated(mode: str, claim: int, checks: ResultChecks, rounds: int) -> list[np.ndarray]:
    def make(name: str) -> Any:
        return Liar(name, mode, claim) if name == LIAR else client_fn(name)

    history = simulate(
        make, [*HONEST, LIAR], strategy(5), initial_parameters(), rounds, seed=SEED, checks=checks
    )
    return history.parameters


def run_with_liar(
    fleet: Fleet, rounds: int, mode: str, claim: int, *options: str
) -> tuple[list[np.ndarray], str, Path, list[str]]:
    """The final model, the run id, the store, and what the coordinator told the liar;
    ``options`` go to the coordinator (``--evaluate``)."""
    out = fleet.tmp_path / "final.bin"
    coordinator, address, run_id = fleet.coordinator(
        rounds, [*HONEST, LIAR], "--out", str(out), *options
    )
    for name in HONEST:
        fleet.party(address, name)
    liar = fleet.party(address, LIAR, "--lie", mode, "--claim", str(claim))
    assert coordinator.wait(240) == 0, coordinator.output[-3000:]
    assert liar.wait(60) == 0, liar.output[-2000:]  # a lying party is refused, not thrown out
    told = [
        line.split("the coordinator says: ", 1)[1]
        for line in liar.output.splitlines()
        if "the coordinator says: " in line
    ]
    return decode(bytearray(out.read_bytes())), run_id, fleet.tmp_path / "runs.db", told


@pytest.mark.timeout(300)
def test_a_party_claiming_a_billion_examples_counts_as_three_median_parties(
    fleet: Fleet,
) -> None:
    rounds, claim = 4, 10**9
    # The liar trains, then sends its update reversed (same norm, opposite direction).
    # Unchecked (simulation's streaming checks) its claim holds 99.9998% of the weight and
    # the model runs backwards: it is captured.
    captured = simulated("flip", claim, ResultChecks.streaming(), rounds)
    assert accuracy(captured) < 0.15
    final, run_id, store_path, told = run_with_liar(fleet, rounds, "flip", claim)
    # Deployed, its weight is capped at 3x the round's median claim: the four honest parties
    # outweigh it and the model learns (more slowly: stopping a party that stays inside the
    # bounds is robust aggregation's job - Krum, trimmed mean).
    assert accuracy(final) > 0.3
    for got, want in zip(final, simulated("flip", claim, ResultChecks(), rounds), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    with RunStore(store_path, read_only=True) as store:
        records = [r for r in store.client_records(run_id, LIAR) if r.phase == "fit"]
        assert [r.status for r in records] == ["ok"] * rounds
        for record in records:
            assert record.reason == (
                f"weight capped: claimed {claim} examples, counted as 1080 (3x the round's "
                "median claim 360; result_checks.max_weight_ratio)"
            )
            assert record.num_examples == 1080
            assert record.metrics["update_norm"] > 0  # every party's update norm, reported
        honest = [r for r in store.client_records(run_id, "p0") if r.phase == "fit"]
        assert all(r.reason is None and r.metrics["update_norm"] > 0 for r in honest)
    # The liar is told, each round, that its claim was capped - not the others' median claim
    assert told == [
        f"round {r}: your claim of {claim} examples was counted as fewer: "
        "result_checks.max_weight_ratio = 3 caps a claim at that many times the round's "
        "median claim"
        for r in range(1, rounds + 1)
    ]


@pytest.mark.timeout(300)
def test_a_count_beyond_2_to_the_63_is_refused_with_a_reason_and_the_run_completes(
    fleet: Fleet,
) -> None:
    final, run_id, store_path, told = run_with_liar(fleet, 2, "count", 2**63)
    assert told == [
        f"round {r}: your fit result was not counted: claimed {2**63} examples, above the "
        "limit of 1000000000000 (result_checks.max_claimed_examples)"
        for r in (1, 2)
    ]
    assert accuracy(final) > 0.6
    with RunStore(store_path, read_only=True) as store:
        assert store.get_run(run_id).status == "completed"
        refused = [r for r in store.client_records(run_id, LIAR) if r.phase == "fit"]
        assert [r.status for r in refused] == ["failed", "failed"]
        assert all(
            r.reason == f"claimed {2**63} examples, above the limit of 1000000000000 "
            "(result_checks.max_claimed_examples)"
            for r in refused
        )
        rounds = store.rounds(run_id)
        assert [(r.num_clients, r.num_failures) for r in rounds] == [(5, 1), (5, 1)]


@pytest.mark.timeout(300)
def test_values_far_outside_the_models_scale_are_refused_and_the_model_stays_finite(
    fleet: Fleet,
) -> None:
    final, run_id, store_path, told = run_with_liar(fleet, 4, "cycle", 10**11)
    assert len(told) == 4
    assert told[0].startswith("round 1: your fit result was not counted: its update norm ")
    assert told[0].endswith(
        "is more than result_checks.max_update_norm_ratio = 10 times the round's median"
    )
    assert told[1:3] == [
        "round 2: your fit result was not counted: array 0 has dtype int64, the model's array "
        "is float64",
        "round 3: your fit result was not counted: array 0 has dtype bool, the model's array "
        "is float64",
    ]
    assert told[3].startswith("round 4: your claim of")
    assert all(np.all(np.isfinite(a)) for a in final)
    assert accuracy(final) > 0.8
    with RunStore(store_path, read_only=True) as store:
        for round_, blob in ((r, store.load_checkpoint(run_id, r)) for r in (1, 2, 3, 4)):
            state = decode(bytearray(blob))
            assert all(np.all(np.isfinite(a)) for a in state["parameters"]), round_
        reasons = {
            r.round: (r.status, r.reason or "")
            for r in store.client_records(run_id, LIAR)
            if r.phase == "fit"
        }
        assert reasons[1][0] == "failed" and "update norm" in reasons[1][1]  # x 1e300
        assert reasons[1][1].endswith("(limit: result_checks.max_update_norm_ratio = 10)")
        assert reasons[2] == ("failed", "array 0 has dtype int64, the model's array is float64")
        assert reasons[3] == ("failed", "array 0 has dtype bool, the model's array is float64")
        assert reasons[4][0] == "ok" and reasons[4][1].startswith("weight capped")
        assert all(r.status == "ok" for r in store.client_records(run_id) if r.client_id in HONEST)


@pytest.mark.timeout(300)
def test_a_party_claiming_a_trillion_evaluation_examples_counts_as_three_median_parties(
    fleet: Fleet,
) -> None:
    """Before, its claim held all but 3e-9 of the weight: every round's eval_accuracy was
    its 0.0 and eval_loss its 3.0, whatever the honest parties measured."""
    rounds, claim = 2, 10**12
    _, run_id, store_path, told = run_with_liar(fleet, rounds, "evaluation", claim, "--evaluate")
    assert told == [
        f"round {r}: your claim of {claim} evaluation examples was counted as fewer: "
        "result_checks.max_evaluation_weight_ratio = 3 caps a claim at that many times the "
        "round's median claim"
        for r in range(1, rounds + 1)
    ]
    with RunStore(store_path, read_only=True) as store:
        assert store.get_run(run_id).status == "completed"
        for record in store.rounds(run_id):
            evaluations = [
                r
                for r in store.client_records(run_id)
                if r.round == record.round and r.phase == "evaluate"
            ]
            honest = [r for r in evaluations if r.client_id in HONEST]
            (liar,) = [r for r in evaluations if r.client_id == LIAR]
            assert liar.status == "ok" and liar.num_examples == 1080  # 3 x the median 360
            assert liar.reason == (
                f"weight capped: claimed {claim} evaluation examples, counted as 1080 (3x the "
                "round's median claim 360; result_checks.max_evaluation_weight_ratio)"
            )
            weight = sum(r.num_examples for r in honest)
            correct = sum(r.num_examples * (r.metrics or {})["accuracy"] for r in honest)
            assert record.metrics["eval_accuracy"] == pytest.approx(correct / (weight + 1080))
            assert record.metrics["eval_accuracy"] > 0.4  # the honest parties' ~0.9, diluted
