"""A round that runs again (clients whose local privacy budget is spent declined it, so it
fell short) counts once: observers forget the abandoned attempt's results, the run store keeps
only the final attempt's client records (and the declines that made it run again), and a
client that missed the timeout in both attempts has missed one round, not two."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from cohorts import Asks

from rengo.core.errors import RoundFailure
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, Coordinator, FedAvg, SecAggPlus, ShortRound, make_pool
from rengo.privacy.budget import PrivacyBudgetExhausted
from rengo.tracking import RunStore
from rengo.valuation import ContributionTracker

STEP = {"ok1": 1.0, "ok2": 3.0, "ok3": 5.0}
TIMEOUT = 0.2


class StepClient(Client):
    """Adds its own step to the model; ``spent`` declines every round (its local budget is
    spent), ``slow`` answers after the round timeout."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        if self.cid == "spent":
            raise PrivacyBudgetExhausted(1.0, 2.0, 1.5, 1)
        if self.cid == "slow":
            time.sleep(3 * TIMEOUT)
        return FitResult([p + STEP.get(self.cid, 0.0) for p in parameters], 10)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


class Recorder:
    """Every observer call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: FitResult
    ) -> None:
        self.calls.append(("result", server_round, client_id))

    def on_attempt_abandoned(self, server_round: int, reason: str) -> None:
        self.calls.append(("abandoned", server_round, reason))

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
    ) -> None:
        self.calls.append(("end", server_round))


def _score(parameters: Parameters) -> float:
    return -float(abs(parameters[0][0] - 2.0))


def _coordinator(ids: list[str], strategy: FedAvg, **options: Any) -> Coordinator:
    """A coordinator over StepClients ``ids`` (serial executor) from a zero model."""
    return Coordinator(strategy, make_pool(StepClient, ids, "serial"), [np.zeros(1)], **options)


def _run(tmp_path: Any, rounds: int) -> tuple[Coordinator, RunStore, str, Recorder, Any]:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {}, name="retry")
    recorder = Recorder()
    tracker = ContributionTracker(_score, "mr")
    coordinator = _coordinator(
        ["spent", "slow", "ok1", "ok2", "ok3"],
        Asks(
            ["spent", "slow", "ok3"],
            ["slow", "ok1", "ok2"],
            min_fit_clients=2,
            min_available_clients=2,
        ),
        round_timeout=TIMEOUT,
        store=store,
        run_id=run_id,
        observers=[recorder, tracker],
        slow_after=2,
        slow_rounds=3,
    )
    coordinator.run(rounds)
    return coordinator, store, run_id, recorder, tracker


def test_observers_forget_the_abandoned_attempt_and_see_the_final_one(tmp_path: Any) -> None:
    _, _, _, recorder, tracker = _run(tmp_path, 1)
    first = recorder.calls.index(("result", 1, "ok3"))
    abandoned = [c for c in recorder.calls if c[0] == "abandoned"]
    assert len(abandoned) == 1 and recorder.calls.index(abandoned[0]) == first + 1
    assert abandoned[0][2] == "the round is run again"
    final = recorder.calls[first + 2 :]
    assert sorted(c[2] for c in final if c[0] == "result") == ["ok1", "ok2"]
    assert final[-1] == ("end", 1)
    # the round is valued on what built the model: ok1 and ok2, each once
    (round_1,) = tracker.rounds
    assert set(round_1.values) == {"ok1", "ok2"}
    model_score = _score([np.array([2.0])])  # FedAvg of +1 and +3 from 0
    assert sum(round_1.values.values()) == pytest.approx(model_score - _score([np.zeros(1)]))


def test_the_store_keeps_the_final_attempt_and_the_declines(tmp_path: Any) -> None:
    _, store, run_id, _, _ = _run(tmp_path, 1)
    records = [r for r in store.client_records(run_id) if r.phase == "fit"]
    fits = {r.client_id: r for r in records}
    assert [r.client_id for r in records] == ["ok1", "ok2", "slow", "spent"]  # once each
    # not ok3: its update was dropped with the abandoned attempt
    assert fits["ok1"].status == fits["ok2"].status == "ok"
    assert fits["spent"].status == "failed" and "PrivacyBudgetExhausted" in str(
        fits["spent"].reason
    )
    assert fits["slow"].status == "failed" and str(fits["slow"].reason).startswith("timed out")
    assert "ok3" not in {s.client_id for s in store.client_stats(run_id)}


def test_a_timeout_in_both_attempts_is_one_missed_round(tmp_path: Any) -> None:
    coordinator, _, _, _, _ = _run(tmp_path, 1)
    assert coordinator.slow_clients(2) == []  # one miss, slow_after=2
    coordinator, _, _, _, _ = _run(tmp_path / "two", 2)
    assert coordinator.slow_clients(3) == ["slow"]  # a second round missed: now slow


def test_a_failed_round_is_abandoned_for_observers(tmp_path: Any) -> None:
    recorder = Recorder()
    tracker = ContributionTracker(_score, "mr")
    coordinator = _coordinator(
        ["ok1", "ok2", "slow"],
        FedAvg(min_fit_clients=3, min_available_clients=3),
        round_timeout=TIMEOUT,
        observers=[recorder, tracker],
    )
    with pytest.raises(RoundFailure, match="only 2 of 3 clients reported"):
        coordinator.run(1)
    assert recorder.calls[-1] == ("abandoned", 1, "the round failed")
    assert sorted(c[2] for c in recorder.calls if c[0] == "result") == ["ok1", "ok2"]
    assert tracker.rounds == () and tracker._pending == {}  # nothing kept for the round


def test_under_secure_aggregation_a_short_round_unmasks_nothing_and_runs_again(
    tmp_path: Any,
) -> None:
    """``spent`` declines at the masked input: two inputs for min_fit_clients=3. The sum of
    those two is never unmasked (the coordinator would discard it), so the round may run again
    over another cohort without revealing the difference of two sums."""
    workflow = SecAggPlus(quantisation_bits=20, clip_range=8.0)
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {}, name="secagg-retry")
    unmasked: list[bool] = []

    class Watch(Recorder):
        def on_attempt_abandoned(self, server_round: int, reason: str) -> None:
            unmasked.append(workflow.last.unmasked)  # the abandoned attempt's report
            super().on_attempt_abandoned(server_round, reason)

    coordinator = _coordinator(
        ["spent", "ok1", "ok2", "ok3"],
        Asks(
            ["spent", "ok1", "ok2"],
            ["ok1", "ok2", "ok3"],
            min_fit_clients=3,
            min_available_clients=3,
        ),
        store=store,
        run_id=run_id,
        observers=[Watch()],
        workflow=workflow,
    )
    history = coordinator.run(1)
    assert unmasked == [False]
    assert workflow.last.unmasked and sorted(history.rounds[0].clients) == ["ok1", "ok2", "ok3"]
    assert coordinator.parameters[0][0] == pytest.approx(3.0, abs=1e-4)  # mean of 1, 3, 5
    events = [e.message for e in store.events(run_id)]
    assert any("round 1 is run again without client(s) spent" in m for m in events), events
    assert "spent" in coordinator.excluded


def test_under_secure_aggregation_too_few_inputs_fail_before_unmasking() -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    coordinator = _coordinator(
        ["ok1", "ok2", "slow"],
        FedAvg(min_fit_clients=3, min_available_clients=3),
        round_timeout=TIMEOUT,
        workflow=workflow,
    )
    with pytest.raises(RoundFailure, match="min_fit_clients=3; the round would be discarded"):
        coordinator.run(1)
    assert not workflow.last.unmasked


def test_a_round_runs_again_only_for_newly_spent_clients(tmp_path: Any) -> None:
    """A strategy that asks an excluded client again cannot make a round run again forever:
    each attempt that runs again must exclude a client; the second short attempt fails."""
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {}, name="loop")
    coordinator = _coordinator(
        ["spent", "ok1", "ok2", "ok3"],
        Asks(["spent", "ok1", "ok2"], min_fit_clients=3, min_available_clients=3),
        store=store,
        run_id=run_id,
    )
    with pytest.raises(RoundFailure, match="only 2 of 3 clients reported"):
        coordinator.run(1)
    again = [e.message for e in store.events(run_id) if "is run again" in e.message]
    assert len(again) == 1


def test_under_secure_aggregation_a_round_short_for_other_reasons_does_not_run_again() -> None:
    """``spent`` declines and ``slow`` times out: one input of three needed, and ``spent``
    alone would not have made it enough, so the round fails (nothing unmasked)."""
    workflow = SecAggPlus(quantisation_bits=20)
    coordinator = _coordinator(
        ["spent", "slow", "ok1", "ok2"],
        Asks(["spent", "slow", "ok1"], min_fit_clients=3, min_available_clients=3),
        round_timeout=TIMEOUT,
        workflow=workflow,
    )
    with pytest.raises(RoundFailure) as failure:
        coordinator.run(1)
    assert not isinstance(failure.value, ShortRound)  # the coordinator's verdict
    assert "1 clients left after stage 'secagg.masked_input'" in str(failure.value)
    assert not workflow.last.unmasked and "spent" in coordinator.excluded


def test_observers_are_not_told_to_abandon_a_round_whose_model_was_taken(tmp_path: Any) -> None:
    """...and the round is kept: an observer raising at its end (a contribution tracker
    whose coalition scored NaN did) lost the completed round from the store."""

    class Failing(Recorder):
        def on_round_end(
            self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
        ) -> None:
            super().on_round_end(server_round, old, new, metrics)
            raise RuntimeError("observer broke")

    recorder = Failing()
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {}, name="observer")
    coordinator = _coordinator(
        ["ok1", "ok2"],
        FedAvg(min_fit_clients=2, min_available_clients=2),
        observers=[recorder],
        store=store,
        run_id=run_id,
    )
    with pytest.raises(RuntimeError, match="observer broke"):
        coordinator.run(1)
    assert recorder.calls[-1] == ("end", 1)
    assert [r.round for r in store.rounds(run_id)] == [1]


def test_observers_are_told_to_abandon_a_round_whose_evaluation_failed() -> None:
    class BrokenEvaluation(FedAvg):
        def evaluate(self, server_round: int, parameters: Parameters) -> Any:
            raise RuntimeError("evaluation broke")

    recorder = Recorder()
    tracker = ContributionTracker(_score, "mr")
    coordinator = _coordinator(
        ["ok1", "ok2"],
        BrokenEvaluation(min_fit_clients=2, min_available_clients=2),
        observers=[recorder, tracker],
    )
    with pytest.raises(RuntimeError, match="evaluation broke"):
        coordinator.run(1)
    assert recorder.calls[-1] == ("abandoned", 1, "the round failed")
    assert tracker._pending == {}


def test_a_short_round_pickles_with_its_counts() -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(ShortRound("2 inputs arrived", 2, 3)))
    assert (str(copy), copy.arrived, copy.needed) == ("2 inputs arrived", 2, 3)
