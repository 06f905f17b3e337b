"""`rengo run JOB --same-as RUN`: repeat a recorded run, or be told what differs from it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunInfo, RunStore

runner = CliRunner(env={"COLUMNS": "200"})

JOB = """
[job]
name = "again"
seed = 4
rounds = 2
[data]
dataset = "wine"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[train]
lr = {lr}
[strategy]
name = "fedavg"
"""


def _flat(text: str) -> str:
    return " ".join(text.split())


def _first_run(tmp_path: Path) -> tuple[Path, Path, list[str], RunInfo]:
    """The job file (lr 0.1), its store, the command line that runs it, and its first run."""
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(lr=0.1))
    store = tmp_path / "runs.db"
    base = ["run", str(job), "--store", str(store), "--no-progress"]
    first = runner.invoke(app, base)
    assert first.exit_code == 0, first.output
    with RunStore(store, read_only=True) as s:
        (old,) = s.list_runs()
    return job, store, base, old


def test_a_job_run_again_with_its_settings_repeats_the_recorded_run(tmp_path: Path) -> None:
    _, _, base, old = _first_run(tmp_path)
    again = runner.invoke(app, [*base, "--same-as", old.run_id])
    assert again.exit_code == 0, again.output
    assert f"same final metrics as run {old.run_id}" in _flat(again.output)


def test_an_edited_job_is_refused_naming_what_differs_and_runs_nothing(tmp_path: Path) -> None:
    job, store, base, old = _first_run(tmp_path)
    job.write_text(JOB.format(lr=0.3))  # edited since
    edited = runner.invoke(app, [*base, "--same-as", old.run_id])
    assert edited.exit_code == 2, edited.output
    said = _flat(edited.output)
    assert f"would not repeat run {old.run_id}: job_settings.train.lr 0.1, now 0.3" in said
    overridden = runner.invoke(app, [*base, "--same-as", old.run_id, "--set", "train.lr=0.1"])
    assert overridden.exit_code == 0 and "same final metrics" in _flat(overridden.output)
    with RunStore(store, read_only=True) as s:
        assert len(s.list_runs()) == 2  # the refused one recorded nothing


def test_a_run_recorded_before_the_csv_format_keys_existed_is_repeated_by_a_job_without_them(
    tmp_path: Path,
) -> None:
    # a release before data.delimiter/encoding/decimal recorded job settings without them
    _, store, base, old = _first_run(tmp_path)
    with sqlite3.connect(store) as conn:
        (text,) = conn.execute("SELECT config FROM runs WHERE run_id = ?", (old.run_id,)).fetchone()
        config = json.loads(text)
        for key in ("delimiter", "encoding", "decimal"):
            config["job_settings"]["data"].pop(key, None)
        conn.execute(
            "UPDATE runs SET config = ? WHERE run_id = ?", (json.dumps(config), old.run_id)
        )
    again = runner.invoke(app, [*base, "--same-as", old.run_id])
    assert again.exit_code == 0, again.output
    other = runner.invoke(app, [*base, "--same-as", old.run_id, "--set", "data.decimal=,"])
    assert other.exit_code == 2, other.output
    assert "job_settings.data.decimal None, now ','" in _flat(other.output)
