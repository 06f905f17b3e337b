"""Early stopping (``EarlyStopping``, a job's ``[early_stopping]``) in a deployed horizontal
run with careless and hostile parties, real processes over mTLS: a party that dies, or lies
about its evaluation (a NaN or a huge loss), in a round whose metric decides the stop,
neither ends the run where the honest parties' figures would not nor crashes it; the stopped
run is recorded completed with its reason, and the best round's checkpoint is kept beside
the latest whatever the retention prunes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fleet import Fleet

from rengo.tracking import RunStore

PARTIES = [f"p{i}" for i in range(5)]
ROUNDS = 12
# digits, every party evaluating each round: eval_loss improves by 0.107 in round 6 and by
# 0.084 in round 7, so with min_delta 0.1 and patience 1 an honest run stops after round 7,
# keeping round 6 (its checkpoint stays though keep_last = 1)
WATCH = ("--evaluate", "--early-stopping", "eval_loss,1,0.1", "--keep-last", "1")


@dataclass
class Stopped:
    status: str
    rounds: list[int]
    kept: list[int]
    reasons: list[str]
    exit_code: int
    output: str


def _run(fleet: Fleet, last_party: tuple[str, ...] = (), crash_round: int = 0) -> Stopped:
    """The run with p4 started with ``last_party``'s options (a lie), or dying in the middle
    of round ``crash_round``'s fit."""
    coordinator, address, run_id = fleet.coordinator(ROUNDS, PARTIES, *WATCH)
    for name in PARTIES[:-1]:
        fleet.party(address, name)
    env = {"RENGO_TEST_CRASH_ROUND": str(crash_round)} if crash_round else None
    fleet.start("party", address, PARTIES[-1], str(fleet.certs), *last_party, env=env)
    code = coordinator.wait(240)
    with RunStore(fleet.tmp_path / "runs.db", read_only=True) as store:
        run = store.get_run(run_id)
        return Stopped(
            run.status,
            [r.round for r in store.rounds(run_id)],
            sorted(store.checkpoint_rounds(run_id)),
            [e.message for e in store.events(run_id) if e.message.startswith("early stopping")],
            code,
            coordinator.output,
        )


def _stopped_after_round_7_keeping_round_6(run: Stopped) -> None:
    assert run.exit_code == 0, run.output[-3000:]
    assert "Traceback" not in run.output
    assert run.status == "completed" and run.rounds == [1, 2, 3, 4, 5, 6, 7]
    assert run.kept == [6, 7]
    (reason,) = run.reasons
    assert "the best was" in reason and "in round 6" in reason
    assert f"STOPPED {reason}" in run.output


@pytest.mark.timeout(300)
def test_a_huge_evaluation_loss_in_an_improving_round_does_not_stop_the_run(
    fleet: Fleet,
) -> None:
    """Before, p4's loss of 1e140 made round 6's eval_loss 2e139: the run stopped after
    round 6 and kept round 5. Its evaluation is now refused (more than 10x the round's
    median loss), and round 6's figure is the honest parties'."""
    run = _run(fleet, ("--lie", "huge-loss", "--lie-round", "6"))
    _stopped_after_round_7_keeping_round_6(run)
    assert "result_checks.max_evaluation_loss_ratio" in run.output


@pytest.mark.timeout(300)
def test_a_nan_evaluation_loss_in_the_stopping_round_stops_it_as_the_honest_run_does(
    fleet: Fleet,
) -> None:
    run = _run(fleet, ("--lie", "nan-loss", "--lie-round", "7"))
    _stopped_after_round_7_keeping_round_6(run)
    assert "evaluation loss is NaN or Inf" in run.output


@pytest.mark.timeout(300)
def test_a_party_dying_in_an_improving_round_does_not_stop_the_run(fleet: Fleet) -> None:
    """p4 dies in the middle of round 6's fit: the round runs on the other four."""
    run = _run(fleet, crash_round=6)
    _stopped_after_round_7_keeping_round_6(run)
