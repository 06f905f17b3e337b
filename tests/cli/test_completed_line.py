"""The coordinator's last line counts every round the run completed, also those its history
no longer holds in memory (a long run keeps only its latest rounds there); a resumed run
that had already stopped early says so, not that it completed 0 rounds."""

from __future__ import annotations

from rengo.cli.deploy import completed_line
from rengo.hfl import History
from rengo.hfl.coordinator import RoundRecord


def _record(server_round: int) -> RoundRecord:
    return RoundRecord(server_round, ["a", "b"], {}, {}, 0.1)


def test_a_long_runs_line_counts_the_rounds_kept_only_in_the_store() -> None:
    history = History(rounds=[_record(9), _record(10)], run_id="r", earlier_rounds=8)
    assert completed_line(history, resumed=False) == "run r completed 10 rounds"


def test_a_resumed_long_runs_line_counts_the_rounds_since_it_resumed() -> None:
    history = History(rounds=[_record(9), _record(10)], run_id="r", earlier_rounds=5)
    assert completed_line(history, resumed=True) == (
        "run r completed 10 rounds (7 since it resumed after round 3)"
    )


def test_a_run_resumed_after_its_early_stop_says_it_had_already_stopped_there() -> None:
    """Cut off between the checkpoint of the round early stopping ended it after and its
    completion, a resumed run runs no round: it said "run r completed 0 rounds"."""
    reason = "early stopping: central_loss has not got lower for 2 rounds"
    history = History(run_id="r", stopped=reason)
    assert completed_line(history, resumed=True, resumed_after=7) == (
        f"run r had already stopped after round 7 ({reason}); no round was run"
    )
    assert completed_line(History(run_id="r"), resumed=True, resumed_after=5) == (
        "run r had already completed 5 rounds; no round was run"
    )
