"""The CSV and JSON exports of runs (:mod:`rengo.tracking.rounds_export`) read the store at
one moment, as ``rengo runs metrics`` does: before, called from Python beside a run that was
writing, a JSON record could hold a round in its events but not in its rounds, and a CSV of
two runs the second run's round written after the first run's rows were read."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from rengo.tracking import RunStore
from rengo.tracking.rounds_export import rounds_rows, run_record, write_runs_json


class WrittenBetweenReads(RunStore):
    """A store that, the first time it has read a run's rounds, lets another process's
    store (``writer``) record round 2 of every run and an event: a run writing meanwhile."""

    writer: RunStore
    run_ids: list[str]
    done = False

    def rounds(self, run_id: str, *args: Any, **kwargs: Any) -> Any:
        rows = super().rounds(run_id, *args, **kwargs)
        if not self.done:
            self.done = True
            for run in self.run_ids:
                self.writer.log_round(run, 2, {"loss": 0.5}, 1.0, 2, 0)
                self.writer.log_event(run, "info", "round 2 done", round=2)
        return rows


def two_running_runs(path: Path) -> tuple[RunStore, list[str]]:
    writer = RunStore(path)
    ids = []
    for name in ("a", "b"):
        run_id = writer.start_run("hfl", {}, name=name)
        writer.log_round(run_id, 1, {"loss": 1.0}, 1.0, 2, 0)
        writer.log_event(run_id, "info", "round 1 done", round=1)
        ids.append(run_id)
    return writer, ids


def reader_beside(path: Path, writer: RunStore, ids: list[str]) -> WrittenBetweenReads:
    reader = WrittenBetweenReads(path, read_only=True)
    reader.writer, reader.run_ids = writer, ids
    return reader


def test_a_runs_record_is_of_one_moment(tmp_path: Path) -> None:
    writer, ids = two_running_runs(tmp_path / "runs.db")
    with writer, reader_beside(tmp_path / "runs.db", writer, ids) as reader:
        record = run_record(reader, ids[0])
    assert [r["round"] for r in record["rounds"]] == [1]
    assert [e["round"] for e in record["events"]] == [1]


def test_the_rows_of_several_runs_are_of_one_moment(tmp_path: Path) -> None:
    writer, ids = two_running_runs(tmp_path / "runs.db")
    with writer, reader_beside(tmp_path / "runs.db", writer, ids) as reader:
        _, rows = rounds_rows(reader, ids)
    assert [(row["run_name"], row["round"]) for row in rows] == [("a", 1), ("b", 1)]


def test_the_json_file_is_its_owners_only(tmp_path: Path) -> None:
    writer, ids = two_running_runs(tmp_path / "runs.db")
    with writer:
        assert write_runs_json(writer, ids, tmp_path / "runs.json") == 2
    assert stat.S_IMODE((tmp_path / "runs.json").stat().st_mode) == 0o600
    assert [r["run"]["name"] for r in json.loads((tmp_path / "runs.json").read_text())] == [
        "a",
        "b",
    ]
