"""`rengo tournament score` killed between its two writes (the tournament state and the run
store) leaves the dashboard claiming no round the state holds open, and its rerun finishes
the record once: the run store's events name the scored round exactly once."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from child_env import child_env
from click.testing import Result

from rengo.cli.tournament_state import load_state, save_state
from rengo.tournament import Tournament
from rengo.tracking import RunStore
from tests.cli.tournament_steps import app as tournament_cli
from tests.cli.tournament_steps import open_round, runner, submit_predictions


def _state_scored(path: Path) -> set[int]:
    return {r.round for r in Tournament.from_dict(load_state(path)["tournament"]).results()}


def _store_scored(db: Path) -> tuple[list[int], list[str]]:
    """The rounds the tournament run's summary (the dashboard's source) still holds open, and
    its events that say a round was scored."""
    with RunStore(db) as store:
        run = store.list_runs()[0]
        events = [e.message for e in store.events(run.run_id) if e.message.startswith("scored")]
        return list(store.get_run(run.run_id).summary.get("open_rounds", [])), events


def _score_killed_after_saving_the_state(tmp_path: Path) -> tuple[list[str], str]:
    """Open round 1, submit two participants and run `rengo tournament score` in a child
    killed once it has saved the state (the run store locked meanwhile): its ``--state``
    option and its output."""
    state, ids = open_round(tmp_path)
    for name, shift in (("a", 0.0), ("b", 0.5)):
        values = [(k * 0.37 + shift) % 1 for k in range(len(ids))]
        assert submit_predictions(tmp_path, state, name, ids, values, "10.00").exit_code == 0
    state_path, db = tmp_path / "t.json", tmp_path / "runs.db"
    targets = tmp_path / "t-round1-targets.csv"
    command = [sys.executable, "-m", "rengo", "tournament", "score", "--targets", str(targets)]
    # the run store is locked for writing while score runs, so it cannot finish its record
    # there; it is killed (SIGKILL: nothing of it runs after) once it has written what it can
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    proc = subprocess.Popen(
        [*command, *state],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=child_env(),  # the rengo under test, whatever $PYTHONPATH this pytest had
    )
    try:
        while 1 not in _state_scored(state_path) and proc.poll() is None:
            time.sleep(0.05)
        proc.kill()  # SIGKILL (unless it has ended)
        out = proc.communicate()[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        holder.execute("ROLLBACK")
        holder.close()
    return state, out


def test_a_score_killed_after_saving_the_state_is_finished_by_its_rerun_without_a_second_event(
    tmp_path: Path,
) -> None:
    state, out = _score_killed_after_saving_the_state(tmp_path)
    db = tmp_path / "runs.db"
    targets = tmp_path / "t-round1-targets.csv"
    # the score got as far as saving the state (the old order wrote the store first and
    # waited on it, its state still open: the kill then came after it gave up)
    assert 1 in _state_scored(tmp_path / "t.json"), out
    open_rounds, events = _store_scored(db)
    assert open_rounds == [1] and events == []  # the store claims nothing yet
    again_args = ["tournament", "score", "--targets", str(targets), *state]
    rerun = runner.invoke(tournament_cli, again_args)
    assert rerun.exit_code == 0, rerun.output
    assert "recording it now" in rerun.output and "Round 1 scores" in rerun.output
    open_rounds, events = _store_scored(db)
    assert open_rounds == [] and events == ["scored round 1: 2 participants"]
    again = runner.invoke(tournament_cli, again_args)
    assert again.exit_code == 2 and "already scored" in again.output
    assert _store_scored(db)[1] == ["scored round 1: 2 participants"]


def _pending(state_path: Path) -> object:
    return load_state(state_path).get("score_to_record")


def test_pay_after_a_score_killed_after_saving_the_state_finishes_its_record_first(
    tmp_path: Path,
) -> None:
    state, out = _score_killed_after_saving_the_state(tmp_path)
    db = tmp_path / "runs.db"
    assert 1 in _state_scored(tmp_path / "t.json") and _store_scored(db)[1] == [], out
    paid = runner.invoke(tournament_cli, ["tournament", "pay", *state])
    assert paid.exit_code == 0, paid.output
    assert _store_scored(db) == ([], ["scored round 1: 2 participants"])
    assert _pending(tmp_path / "t.json") is None


def _submit_and_score_round_2(tmp_path: Path, state: list[str]) -> Result:
    """Two participants submit to open round 2, then `score` runs with no --round."""
    with (tmp_path / "t-round2-live.csv").open(newline="", encoding="utf-8") as f:
        ids = [r["id"] for r in csv.DictReader(f)]
    for name, shift in (("a", 0.1), ("b", 0.6)):
        values = [(k * 0.41 + shift) % 1 for k in range(len(ids))]
        assert submit_predictions(tmp_path, state, name, ids, values, "10.00").exit_code == 0
    targets = tmp_path / "t-round2-targets.csv"
    return runner.invoke(tournament_cli, ["tournament", "score", "--targets", str(targets), *state])


def test_a_score_rerun_with_a_new_round_open_records_the_pending_one_and_scores_the_new(
    tmp_path: Path,
) -> None:
    state, out = _score_killed_after_saving_the_state(tmp_path)
    db = tmp_path / "runs.db"
    assert _pending(tmp_path / "t.json") == 1, out
    opened = runner.invoke(
        tournament_cli,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2", *state],
    )
    assert opened.exit_code == 0, opened.output
    assert _store_scored(db) == ([2], ["scored round 1: 2 participants"])  # open finished it
    scored = _submit_and_score_round_2(tmp_path, state)
    assert scored.exit_code == 0, scored.output
    assert "Round 2 scores" in scored.output
    assert _store_scored(db) == (
        [],
        ["scored round 1: 2 participants", "scored round 2: 2 participants"],
    )


def test_a_score_rerun_without_round_scores_the_open_round_after_finishing_a_pending_record(
    tmp_path: Path,
) -> None:
    state, out = _score_killed_after_saving_the_state(tmp_path)
    assert _pending(tmp_path / "t.json") == 1, out
    path, db = tmp_path / "t.json", tmp_path / "runs.db"
    # round 2 opened while the store could not be written (as the pending mark stays): the
    # state is edited as open would leave it, so only score meets the mark
    opened = runner.invoke(
        tournament_cli,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2", *state],
    )
    assert opened.exit_code == 0, opened.output
    kept = load_state(path)
    kept["score_to_record"] = 1
    save_state(path, kept)
    edit = sqlite3.connect(db)  # the "scored round 1" event that open wrote is undone
    with edit:
        edit.execute("DELETE FROM events WHERE message LIKE 'scored%'")
    edit.close()
    scored = _submit_and_score_round_2(tmp_path, state)
    assert scored.exit_code == 0, scored.output
    assert "recorded round 1" in scored.output and "Round 2 scores" in scored.output
    assert _store_scored(db)[1] == [
        "scored round 1: 2 participants",
        "scored round 2: 2 participants",
    ]
    assert _pending(path) is None
