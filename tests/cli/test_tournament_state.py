"""The tournament state on disk (``rengo.cli.tournament_state``): a JSON file and a folder
of content-named ``.npy`` arrays, written incrementally, and the format-1 state of earlier
releases still read and carried on (``fixtures/tournament_state_format1*``, made with the
release at d736e07: ``open --csv`` of 24 rows in 3 eras, then alice and bob submitted)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from rengo.cli.tournament import tournament_app
from rengo.cli.tournament_state import (
    LEGACY_STATE_FORMAT,
    STATE_FORMAT,
    arrays_folder,
    load_state,
    save_state,
)
from rengo.core.errors import DataError
from rengo.tournament import Tournament

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner(env={"COLUMNS": "200"})
app = typer.Typer()
app.add_typer(tournament_app, name="tournament")


def _predictions(path: Path, ids: list[str], values: np.ndarray) -> Path:
    lines = ["id,prediction", *(f"{i},{v!r}" for i, v in zip(ids, values.tolist(), strict=True))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _opened(tmp_path: Path) -> tuple[list[str], list[str]]:
    """A tournament with one open round of breast_cancer's live rows; its ids and options."""
    s = ["--state", str(tmp_path / "t.json"), "--store", str(tmp_path / "r.db")]
    opened = runner.invoke(
        app, ["tournament", "open", "--dataset", "breast_cancer", "--eras", "3", *s]
    )
    assert opened.exit_code == 0, opened.output
    live = (tmp_path / "t-round1-live.csv").read_text().splitlines()[1:]
    return [line.split(",")[0] for line in live], s


def _submit(tmp_path: Path, s: list[str], ids: list[str], who: str, seed: int) -> None:
    values = np.random.default_rng(seed).random(len(ids))
    path = _predictions(tmp_path / f"{who}.csv", ids, values)
    done = runner.invoke(
        app,
        ["tournament", "submit", "--participant", who, "--predictions", str(path),
         "--stake", "10", *s],
    )  # fmt: skip
    assert done.exit_code == 0, done.output


def _files(folder: Path) -> dict[str, int]:
    """Array file name -> inode (a rewritten file gets a new one)."""
    return {p.name: p.stat().st_ino for p in folder.iterdir() if p.suffix == ".npy"}


def test_a_submit_writes_only_its_own_predictions_beside_a_small_json(tmp_path: Path):
    """Each submit adds one array file and leaves every array already stored untouched (the
    format-1 state rewrote every submission of the tournament at each submit), and the JSON
    file holds no prediction."""
    ids, s = _opened(tmp_path)
    _submit(tmp_path, s, ids, "alice", 1)
    folder = arrays_folder(tmp_path / "t.json")
    before = _files(folder)
    _submit(tmp_path, s, ids, "bob", 2)
    after = _files(folder)
    assert len(after) == len(before) + 1
    assert {name: after[name] for name in before} == before
    index = json.loads((tmp_path / "t.json").read_text())
    assert index["format"] == STATE_FORMAT
    assert sorted(index["tournament"]["rounds"][0]["submissions"]) == ["alice", "bob"]
    text = (tmp_path / "t.json").read_text()
    assert len(text) < 4096 and not [i for i in ids if f'"{i}"' in text]


def test_a_resubmission_replaces_the_array_and_removes_the_old_one(tmp_path: Path):
    """The arrays folder holds exactly what the JSON names: a replaced submission's file is
    removed, so resubmitting does not grow the state."""
    ids, s = _opened(tmp_path)
    _submit(tmp_path, s, ids, "alice", 1)
    folder = arrays_folder(tmp_path / "t.json")
    first = set(_files(folder))
    _submit(tmp_path, s, ids, "alice", 3)
    second = set(_files(folder))
    assert len(second) == len(first) and second != first
    state = load_state(tmp_path / "t.json")
    kept = state["tournament"]["rounds"][0]["submissions"]["alice"]
    np.testing.assert_array_equal(kept, np.random.default_rng(3).random(len(ids)))


def test_a_resubmission_whose_old_array_cannot_be_removed_yet_is_saved_and_cleaned_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """On Windows a file this process still has memory-mapped (the loaded state's old
    submission) cannot be removed: the save must stand, and a later one remove it."""
    ids, s = _opened(tmp_path)
    _submit(tmp_path, s, ids, "alice", 1)
    folder = arrays_folder(tmp_path / "t.json")
    old = set(_files(folder))
    unlink = Path.unlink

    def mapped_on_windows(self: Path, missing_ok: bool = False) -> None:
        if self.parent == folder and self.name in old:
            raise PermissionError(13, "The process cannot access the file", str(self))
        unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", mapped_on_windows)
    _submit(tmp_path, s, ids, "alice", 3)
    state = load_state(tmp_path / "t.json")
    kept = state["tournament"]["rounds"][0]["submissions"]["alice"]
    np.testing.assert_array_equal(kept, np.random.default_rng(3).random(len(ids)))
    monkeypatch.undo()
    _submit(tmp_path, s, ids, "bob", 2)  # the next save removes what the JSON no longer names
    named = json.dumps(json.loads((tmp_path / "t.json").read_text()))
    assert all(name in named for name in _files(folder))


def test_the_state_round_trips_through_json_and_arrays(tmp_path: Path):
    """What save_state writes, load_state reads back equal (arrays of numbers and of str,
    nested in dicts and lists, and plain values), and loading then saving writes nothing new."""
    t = Tournament()
    ids = [f"row-{i}" for i in range(10)]
    t.open_round(ids, ["a", "b"] * 5, np.arange(20.0).reshape(10, 2))
    t.submit("ève", np.linspace(0, 1, 10), 7)
    path = tmp_path / "state.json"
    state = {"currency": "credits", "paid_rounds": [1], "tournament": t.to_dict(arrays=True)}
    save_state(path, state)
    loaded = load_state(path)
    assert Tournament.from_dict(loaded["tournament"]).to_dict() == t.to_dict()
    assert loaded["paid_rounds"] == [1] and loaded["format"] == STATE_FORMAT
    inodes = _files(arrays_folder(path))
    save_state(
        path,
        {**loaded, "tournament": Tournament.from_dict(loaded["tournament"]).to_dict(arrays=True)},
    )
    assert _files(arrays_folder(path)) == inodes


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        ("../../etc/passwd", "not a SHA-256 .npy name"),
        ("0" * 64 + ".npy", "missing from"),
    ],
)
def test_a_state_naming_a_bad_or_missing_array_is_refused_by_name(
    tmp_path: Path, reference: str, said: str
):
    """A reference that is not a content hash (a path, say) is never opened, and a missing
    array is named with what to keep together."""
    path = tmp_path / "t.json"
    save_state(path, {"values": np.arange(3.0)})
    index = json.loads(path.read_text())
    index["values"] = {"npy": reference}
    path.write_text(json.dumps(index))
    with pytest.raises(DataError, match=said):
        load_state(path)


def test_a_state_of_a_newer_format_says_to_upgrade(tmp_path: Path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"format": "rengo-tournament/9"}))
    with pytest.raises(DataError, match="rengo-tournament/9, written by a newer rengo"):
        load_state(path)


def test_a_format1_state_of_an_earlier_release_is_scored_as_that_release_scored_it(
    tmp_path: Path,
):
    """The earlier release's state (everything in its JSON file) loads, takes a resubmission,
    is written as format 2, and scores to what that release printed for the same round:
    alice +0.2515 CORR, +0.0035 MMC, paid 0.50; bob -0.0779, +0.0403, paid 0.20."""
    state = tmp_path / "t.json"
    store = tmp_path / "r.db"
    index = json.loads((FIXTURES / "tournament_state_format1.json").read_text())
    assert index["format"] == LEGACY_STATE_FORMAT
    index["store"] = str(store)  # the store moved with the state
    state.write_text(json.dumps(index))
    with gzip.open(FIXTURES / "tournament_state_format1_store.db.gz") as packed:
        store.write_bytes(packed.read())
    s = ["--state", str(state), "--store", str(store)]
    alice = shutil.copy(FIXTURES / "tournament_state_format1_alice.csv", tmp_path / "a.csv")
    again = runner.invoke(
        app,
        ["tournament", "submit", "--participant", "alice", "--predictions", str(alice),
         "--stake", "10", *s],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(state.read_text())["format"] == STATE_FORMAT
    targets = FIXTURES / "tournament_state_format1_targets.csv"
    scored = runner.invoke(app, ["tournament", "score", "--targets", str(targets), *s])
    assert scored.exit_code == 0, scored.output
    rows = [" ".join(line.replace("│", " ").split()) for line in scored.output.splitlines()]
    assert "alice 10.00 +0.2515 +0.0035 +0.1327 0.50" in rows, scored.output
    assert "bob 5.00 -0.0779 +0.0403 +0.0416 0.20" in rows, scored.output


@pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="names an open file by /proc/self/fd (Linux)"
)
def test_the_state_and_each_new_array_are_on_disk_before_they_are_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash just after a save leaves the whole new state, never an empty file renamed over
    the old one: the JSON file and each array file are flushed (fsync) before their rename,
    and created 0600 (scores and stakes are business data)."""
    import os

    import rengo.core.files as files

    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", recording_fsync)
    path = tmp_path / "tournament.json"
    save_state(path, {"scores": np.arange(4.0), "round": 1})
    temporaries = [name for name in synced if name.endswith(".tmp")]
    assert len(temporaries) == 2  # the array's file and the JSON file, each before its rename
    assert path.stat().st_mode & 0o777 == 0o600
    (array,) = arrays_folder(path).glob("*.npy")
    assert array.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.rglob("*.tmp"))
    loaded = load_state(path)
    np.testing.assert_array_equal(loaded["scores"], np.arange(4.0))
