"""A central-DP round's spend is in the run store before its model leaves the coordinator:
a coordinator killed with SIGKILL while clients evaluate the round's model (no exception
handler runs, nothing is flushed) leaves a record whose epsilon counts that release, in
``rengo runs show``, the model card and the dashboard; a resume counts it once more only
for the round it runs again, and the note the kill left is gone once the round is recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("dp_accounting")

from rengo.privacy import epsilon_after
from rengo.privacy.epsilon_text import epsilon_shown
from rengo.tracking import RunStore, model_card
from rengo.tracking.store import WRITTEN_AHEAD
from rengo.tracking.tables import privacy_spent

_KILLED_IN_EVALUATION = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from rengo.core import EvaluateResult, FitResult
    from rengo.hfl import Client, DifferentialPrivacy, FedAvg, simulate
    from rengo.privacy import CentralDP
    from rengo.tracking import RunStore

    class KillsInRoundTwosEvaluation(Client):
        def fit(self, parameters, config):
            return FitResult([p + 0.2 for p in parameters], 10)

        def evaluate(self, parameters, config):
            if config["server_round"] == 2:  # the model reached the client: power gone
                os.kill(os.getpid(), signal.SIGKILL)
            return EvaluateResult(0.0, 1)

    inner = FedAvg(fraction_evaluate=1.0, min_fit_clients=3, min_available_clients=3)
    dp = CentralDP(noise_multiplier=1.0, accountant="rdp")
    with RunStore(sys.argv[1]) as store:
        simulate(
            lambda cid: KillsInRoundTwosEvaluation(), 3, DifferentialPrivacy(inner, dp),
            [np.zeros(4)], 3, store=store, seed=0,
        )
    """
)


def _killed_run(tmp_path: Path) -> Path:
    """A store whose DP run was killed (SIGKILL) while a client evaluated round 2's model."""
    path = tmp_path / "runs.db"
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_IN_EVALUATION)
    done = subprocess.run(
        [sys.executable, str(script), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return path


def test_a_coordinator_killed_while_clients_hold_a_dp_rounds_model_reports_its_spend(
    tmp_path: Path,
) -> None:
    """Before: the spend of round 2's release was written by an exception handler, which a
    SIGKILL never runs; the record said 'epsilon ... after 1 rounds', one release short."""
    from rengo.ui.views import run_overview

    path = _killed_run(tmp_path)
    spent = epsilon_after(2, 1.0, 1e-5, 1.0, "rdp")
    with RunStore(path) as store:
        (run,) = store.list_runs()
        assert run.status == "interrupted"
        assert [r.round for r in store.rounds(run.run_id)] == [1]  # round 2 never recorded
        line = privacy_spent(store, run.run_id)
        card = model_card(store, run.run_id)
        page = run_overview(store, run.run_id)
    assert line is not None and line.startswith(
        f"epsilon {epsilon_shown(spent)} at delta 1e-05 after 2 rounds (2 rounds accounted; "
    )
    assert "round 2's model was shown to clients" in line
    assert f"epsilon {epsilon_shown(spent)}" in card
    assert "| central DP: rounds accounted | 2 over 2 rounds" in card
    assert page["run"]["privacy"] == line  # the dashboard states what runs show states


def test_a_resume_after_the_kill_counts_the_released_round_once_more_and_drops_the_note(
    tmp_path: Path,
) -> None:
    """Resumed, round 2 runs again: 3 releases after it (round 1, round 2 killed, round 2),
    4 after round 3 - never the killed release twice, and no stale note left among the
    run's events once the rounds it stood for are recorded."""
    import numpy as np

    from rengo.hfl import DifferentialPrivacy, FedAvg, simulate
    from rengo.privacy import CentralDP

    from .test_dp import Step

    path = _killed_run(tmp_path)
    inner = FedAvg(fraction_evaluate=1.0, min_fit_clients=3, min_available_clients=3)
    dp = CentralDP(noise_multiplier=1.0, accountant="rdp")
    with RunStore(path) as store:
        (run,) = store.list_runs()
        history = simulate(
            lambda cid: Step(0.2), 3, DifferentialPrivacy(inner, dp), [np.zeros(4)], 3,
            store=store, seed=0, resume=run.run_id,
        )  # fmt: skip
        line = privacy_spent(store, run.run_id)
        notes = [e for e in store.events(run.run_id) if e.message.startswith(WRITTEN_AHEAD)]
    assert [v for _, v in history.metric("dp_rounds_accounted")] == [3, 4]
    spent = epsilon_after(4, 1.0, 1e-5, 1.0, "rdp")
    assert history.last("dp_epsilon") == pytest.approx(spent)
    assert line is not None and line.startswith(
        f"epsilon {epsilon_shown(spent)} at delta 1e-05 after 3 rounds (4 rounds accounted"
    )
    assert notes == []


def test_a_completed_dp_run_leaves_no_write_ahead_note_among_its_events(tmp_path: Path) -> None:
    """Every round writes its spend ahead; recording the round removes it, so the run's
    events (which ``rengo runs show`` tails) are not filled with one note a round."""
    import numpy as np

    from rengo.hfl import DifferentialPrivacy, FedAvg, simulate
    from rengo.privacy import CentralDP

    from .test_dp import Step

    inner = FedAvg(fraction_evaluate=1.0, min_fit_clients=3, min_available_clients=3)
    dp = CentralDP(noise_multiplier=1.0, accountant="rdp")
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            lambda cid: Step(0.2), 3, DifferentialPrivacy(inner, dp), [np.zeros(4)], 3,
            store=store, seed=0,
        )  # fmt: skip
        events = store.events(history.run_id)
        line = privacy_spent(store, history.run_id)
    assert not [e for e in events if e.message.startswith(WRITTEN_AHEAD)]
    spent = epsilon_after(3, 1.0, 1e-5, 1.0, "rdp")
    assert line == f"epsilon {epsilon_shown(spent)} at delta 1e-05 after 3 rounds"


def test_the_note_is_synced_after_the_checkpoint_that_counts_the_release(tmp_path: Path) -> None:
    """SQLite syncs its write-ahead log whole at the note's commit: written last, the note
    makes the re-saved checkpoint (the resume's count of the release) durable with it, so a
    power loss cannot keep the note and lose the count (the resumed run then re-ran the round
    and counted the lost release nowhere)."""
    import numpy as np

    from rengo.hfl import DifferentialPrivacy, FedAvg, simulate
    from rengo.privacy import CentralDP

    from .test_dp import Step

    calls: list[tuple[str, int]] = []

    class Ordered(RunStore):
        def save_checkpoint(self, run_id: str, round: int, blob: bytes) -> None:
            super().save_checkpoint(run_id, round, blob)
            calls.append(("checkpoint", round))

        def log_written_ahead(self, run_id: str, round: int, message: str) -> None:
            super().log_written_ahead(run_id, round, message)
            calls.append(("note", round))

    inner = FedAvg(fraction_evaluate=1.0, min_fit_clients=3, min_available_clients=3)
    dp = CentralDP(noise_multiplier=1.0, accountant="rdp")
    with Ordered(tmp_path / "runs.db") as store:
        simulate(
            lambda cid: Step(0.2), 3, DifferentialPrivacy(inner, dp), [np.zeros(4)], 2,
            store=store, seed=0,
        )  # fmt: skip
    # round 2: round 1's checkpoint again with round 2 counted, the note, then round 2's own
    assert calls[-3:] == [("checkpoint", 1), ("note", 2), ("checkpoint", 2)]
