"""An operator restores a tournament's state file or its run store from an older backup than
the other: every tournament command refuses, naming what differs, before it scores a paid
round again, opens a new round under a paid round's number, or ranks payments the ledger
does not hold."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.tracking import RunStore, StoreUnwritableError
from tests.cli.tournament_steps import app, runner, submit_predictions


def _play_round(tmp_path: Path, number: int, stake: str) -> None:
    """Open round ``number`` (the same live rows each time), submit two participants at
    ``stake``, score and pay it."""
    state = ["--state", str(tmp_path / "t.json")]
    opened = runner.invoke(
        app,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2",
         "--store", str(tmp_path / "runs.db"), *state],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    with (tmp_path / f"t-round{number}-live.csv").open(newline="", encoding="utf-8") as f:
        live = list(csv.DictReader(f))
    ids = [r["id"] for r in live]
    radius = np.array([float(r["mean radius"]) for r in live])
    good = 1.0 - (radius - radius.min()) / (radius.max() - radius.min())
    for name, values in (("alice", good), ("bob", 1.0 - good)):
        submitted = submit_predictions(tmp_path, state, name, ids, values.tolist(), stake)
        assert submitted.exit_code == 0, submitted.output
    targets = str(tmp_path / f"t-round{number}-targets.csv")
    scored = runner.invoke(app, ["tournament", "score", "--targets", targets, *state])
    assert scored.exit_code == 0, scored.output
    paid = runner.invoke(app, ["tournament", "pay", *state])
    assert paid.exit_code == 0, paid.output


def _back_up(tmp_path: Path, what: str) -> Path:
    """Copy the state (file and arrays) or the store (``what``) aside, as ``cp -a`` would."""
    backup = tmp_path / f"backup-{what}"
    backup.mkdir()
    names = ["t.json", "t.json.arrays"] if what == "state" else ["runs.db", "runs.db-wal"]
    for name in names:
        source = tmp_path / name
        if source.is_dir():
            shutil.copytree(source, backup / name)
        elif source.exists():
            shutil.copy2(source, backup / name)
    return backup


def _restore(tmp_path: Path, backup: Path, what: str) -> None:
    """Put the backup back in place of the newer files, removing them first."""
    names = ["t.json", "t.json.arrays"]
    if what == "store":
        names = ["runs.db", "runs.db-wal", "runs.db-shm"]
    for name in names:
        target = tmp_path / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    for item in backup.iterdir():
        if item.is_dir():
            shutil.copytree(item, tmp_path / item.name)
        else:
            shutil.copy2(item, tmp_path / item.name)


def _ledger(tmp_path: Path) -> list[tuple[int | None, str, int | str]]:
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        return [(e.round, e.participant, e.amount) for e in store.ledger(run_id)]


def test_an_older_state_restored_over_a_paid_round_is_refused_before_the_round_is_opened_again(
    tmp_path: Path,
) -> None:
    """Restoring the state saved after round 1 over one that had paid round 2 let `open`
    publish a new round 2, `score` score it on other submissions, and `pay` mark it paid
    ("an interrupted pay wrote them"): the new round's payouts were never recorded."""
    _play_round(tmp_path, 1, "100.00")
    backup = _back_up(tmp_path, "state")
    _play_round(tmp_path, 2, "100.00")
    ledger = _ledger(tmp_path)
    _restore(tmp_path, backup, "state")
    saved = (tmp_path / "t.json").read_text()
    state = ["--state", str(tmp_path / "t.json")]
    opened = runner.invoke(
        app,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2", "--overwrite",
         "--store", str(tmp_path / "runs.db"), *state],
    )  # fmt: skip
    assert opened.exit_code == 2, opened.output
    said = " ".join(opened.output.split())
    assert "older than its run store" in said and "ledger pays [2]" in said, said
    assert "nothing was changed" in said
    for command in (["pay"], ["leaderboard"]):
        refused = runner.invoke(app, ["tournament", *command, *state])
        assert refused.exit_code == 2 and "older than its run store" in refused.output
    assert (tmp_path / "t.json").read_text() == saved
    assert _ledger(tmp_path) == ledger


def test_an_older_store_restored_under_a_newer_state_is_refused_instead_of_nothing_to_pay(
    tmp_path: Path,
) -> None:
    """Restoring the store saved after round 1 under a state that had paid round 2: `pay`
    said "nothing to pay" and the leaderboard counted round 2's payouts, which no ledger line
    recorded any more."""
    _play_round(tmp_path, 1, "100.00")
    backup = _back_up(tmp_path, "store")
    _play_round(tmp_path, 2, "100.00")
    _restore(tmp_path, backup, "store")
    state = ["--state", str(tmp_path / "t.json")]
    for command in (["pay"], ["leaderboard"]):
        refused = runner.invoke(app, ["tournament", *command, *state])
        said = " ".join(refused.output.split())
        assert refused.exit_code == 2, said
        assert "says round(s) [2] were paid" in said and "no ledger line" in said, said
    assert {r for r, _, _ in _ledger(tmp_path)} == {1}


def test_an_older_state_holding_a_paid_round_open_is_refused_before_it_is_scored_again(
    tmp_path: Path,
) -> None:
    """The state saved before round 2 was scored, restored after it was paid: `score` scored
    round 2 a second time (on whatever targets and submissions it was given) and `pay`
    marked it paid, the ledger's amounts and the state's scores no longer the same."""
    _play_round(tmp_path, 1, "100.00")
    state = ["--state", str(tmp_path / "t.json")]
    # round 2 opened and submitted, its state backed up before it is scored
    opened = runner.invoke(
        app,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2",
         "--store", str(tmp_path / "runs.db"), *state],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    with (tmp_path / "t-round2-live.csv").open(newline="", encoding="utf-8") as f:
        ids = [r["id"] for r in csv.DictReader(f)]
    values = np.linspace(0.1, 0.9, len(ids))
    for name, stake in (("alice", "100.00"), ("bob", "100.00")):
        prediction = values if name == "alice" else values[::-1]
        done = submit_predictions(tmp_path, state, name, ids, prediction.tolist(), stake)
        assert done.exit_code == 0, done.output
    backup = _back_up(tmp_path, "state")
    targets = ["--targets", str(tmp_path / "t-round2-targets.csv")]
    assert runner.invoke(app, ["tournament", "score", *targets, *state]).exit_code == 0
    assert runner.invoke(app, ["tournament", "pay", *state]).exit_code == 0
    _restore(tmp_path, backup, "state")
    refused = runner.invoke(app, ["tournament", "score", *targets, *state])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 2 and "older than its run store" in said, said


def test_a_tournament_whose_store_is_missing_names_the_store_and_the_restore(
    tmp_path: Path,
) -> None:
    """A disk lost with the run store, the state kept: the next command said only that no run
    had the tournament's id, in an empty store it had just made in the store's place."""
    _play_round(tmp_path, 1, "100.00")
    for name in ("runs.db", "runs.db-wal", "runs.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    state = ["--state", str(tmp_path / "t.json")]
    refused = runner.invoke(app, ["tournament", "pay", *state])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 2, said
    assert "which is missing: restore the store" in said, said
    assert not (tmp_path / "runs.db").exists()


def test_a_tournament_restored_into_another_folder_goes_on_from_its_store_there(
    tmp_path: Path,
) -> None:
    """The state remembers its store's absolute path: restored into another folder (a new
    machine), every command refused `--store NEW` ("recorded in the run store OLD, not NEW")
    and without it looked for the store where it no longer was."""
    old = tmp_path / "old"
    old.mkdir()
    _play_round(old, 1, "100.00")
    new = tmp_path / "new"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    state = ["--state", str(new / "t.json")]
    lost = runner.invoke(app, ["tournament", "leaderboard", *state])
    said = " ".join(lost.output.split())
    assert lost.exit_code == 2 and "which is missing" in said and "pass --store" in said, said
    opened = runner.invoke(
        app,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2",
         "--store", str(new / "runs.db"), *state],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    assert json.loads((new / "t.json").read_text())["store"] == str((new / "runs.db").resolve())
    board = runner.invoke(app, ["tournament", "leaderboard", *state])
    assert board.exit_code == 0 and "alice" in board.output, board.output
    assert not old.exists()


def test_state_and_store_restored_from_before_a_paid_round_are_refused_at_open(
    tmp_path: Path,
) -> None:
    """The documented restore (runs.db from `rengo runs backup`, runs.db.payments kept, the
    state from the same time) after round 2 was paid: open, submit and score of a new round
    2 went on, participants staked, and only pay refused it, for good. The check reads
    runs.db.payments and refuses the open; its suggested way on (a new --state) works."""
    _play_round(tmp_path, 1, "100.00")
    backup = _back_up(tmp_path, "state")
    with RunStore(tmp_path / "runs.db") as store:
        store.backup(backup / "runs.db")
    _play_round(tmp_path, 2, "100.00")
    assert '"round": 2' in (tmp_path / "runs.db.payments").read_text()
    for name in ("runs.db", "runs.db-wal", "runs.db-shm", "t.json"):
        (tmp_path / name).unlink(missing_ok=True)
    shutil.rmtree(tmp_path / "t.json.arrays")
    _restore(tmp_path, backup, "state")
    for kind in ("live", "train", "targets"):
        (tmp_path / f"t-round2-{kind}.csv").unlink()
    state = ["--state", str(tmp_path / "t.json")]
    opened = runner.invoke(
        app, ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2", *state]
    )
    said = " ".join(opened.output.split())
    assert opened.exit_code == 2, said
    assert "paid round(s) [2]" in said and "go on with a new tournament" in said
    assert not (tmp_path / "t-round2-live.csv").exists()
    fresh = runner.invoke(
        app,
        ["tournament", "open", "--dataset", "breast_cancer", "--eras", "2",
         "--state", str(tmp_path / "new.json"), "--store", str(tmp_path / "runs.db")],
    )  # fmt: skip
    assert fresh.exit_code == 0, fresh.output


def test_the_leaderboard_reads_a_store_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leaderboard only reads; its consistency check opened the store read-write, so a
    store on a read-only mount refused it ('cannot be written'), where the release before
    the check printed the table. Here every read-write open of that store fails as on such
    a mount."""
    _play_round(tmp_path, 1, "100.00")
    opened = RunStore.__init__

    def read_only_mount(self: RunStore, *args: Any, **kwargs: Any) -> None:
        if not kwargs.get("read_only", False):
            raise StoreUnwritableError("run store cannot be written (read-only file system)")
        opened(self, *args, **kwargs)

    monkeypatch.setattr(RunStore, "__init__", read_only_mount)
    board = runner.invoke(app, ["tournament", "leaderboard", "--state", str(tmp_path / "t.json")])
    assert board.exit_code == 0, board.output
    assert "alice" in board.output and "bob" in board.output


def test_another_kind_of_ledger_line_in_a_round_neither_stops_nor_misreports_the_tournament(
    tmp_path: Path,
) -> None:
    """A "reward" line appended to round 1 of the tournament's run (RunStore.append_ledger
    allows it) overwrote alice's payout in the check's dict: every command, the leaderboard
    too, exited 2 blaming a restore. Only the kinds tournament pay writes are compared."""
    _play_round(tmp_path, 1, "100.00")
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        store.append_ledger(run_id, 1, "alice", "reward", 100, "bonus")
    state = ["--state", str(tmp_path / "t.json")]
    board = runner.invoke(app, ["tournament", "leaderboard", *state])
    assert board.exit_code == 0, board.output
    _play_round(tmp_path, 2, "100.00")


def test_a_round_the_ledger_pays_twice_is_named(tmp_path: Path) -> None:
    """A round paid twice (duplicate payout and burn lines, as releases before the once
    check could write) passed the check without a word: the dict kept one line each."""
    _play_round(tmp_path, 1, "100.00")
    run_id = json.loads((tmp_path / "t.json").read_text())["run_id"]
    with RunStore(tmp_path / "runs.db") as store:
        for entry in store.ledger(run_id):
            store.append_ledger(run_id, entry.round, entry.participant, entry.kind, entry.amount)
    board = runner.invoke(app, ["tournament", "leaderboard", "--state", str(tmp_path / "t.json")])
    said = " ".join(board.output.split())
    assert board.exit_code == 0, said
    assert "pays round 1 more than once" in said and "alice" in said


def test_a_moved_tournaments_missing_store_message_says_which_commands_remember_store(
    tmp_path: Path,
) -> None:
    """The message said "pass --store with its path now (the state then remembers it)",
    but `leaderboard --store NEW` does not save the path: the next leaderboard without it
    was refused again. The message says which commands save it, and that holds."""
    old = tmp_path / "old"
    old.mkdir()
    _play_round(old, 1, "100.00")
    new = tmp_path / "new"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    state = ["--state", str(new / "t.json")]
    board = runner.invoke(
        app, ["tournament", "leaderboard", "--store", str(new / "runs.db"), *state]
    )
    assert board.exit_code == 0, board.output
    lost = runner.invoke(app, ["tournament", "leaderboard", *state])
    said = " ".join(lost.output.split())
    assert lost.exit_code == 2, said
    assert "the state then remembers it" not in said
    assert "open, score, cancel, pay - saves it in the state" in said
    assert "pass it to leaderboard and submit too" in said
