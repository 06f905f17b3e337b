"""A run records the SHA-256 of each data file it trained on, so a repeat (`rengo run JOB
--same-as RUN`) or a resume (`--resume RUN`) on a file changed in place is refused, naming
the file and both digests, instead of training on other data under the same settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import rengo.cli.run_job as run_job_module
import rengo.jobs.build as build_module
from rengo import __version__
from rengo.cli.main import app
from rengo.cli.run_job import run_job
from rengo.tracking import RunStore
from tests.cli.test_run_resume import _interrupting_at

runner = CliRunner(env={"COLUMNS": "250"})

JOB = """
[job]
name = "on-a-file"
seed = 5
rounds = 3
[data]
dataset = "csv"
path = "table.csv"
label = "y"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[strategy]
name = "fedavg"
"""


def _table(seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 3))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    lines = [
        "a,b,c,y",
        *(f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{c}" for r, c in zip(X, y, strict=True)),
    ]
    return "\n".join(lines) + "\n"


def _job(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """The job file (beside its table.csv), its store and the `rengo run` arguments."""
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    (tmp_path / "table.csv").write_text(_table())
    store = tmp_path / "runs.db"
    return job, store, ["run", str(job), "--store", str(store), "--no-progress"]


def _change_one_value(table: Path) -> None:
    """Flip the first row's label: the features (and so the input scaling the run records)
    stay as they were, only the file's contents tell the change."""
    lines = table.read_text().splitlines(keepends=True)
    *features, label = lines[1].rstrip("\n").split(",")
    lines[1] = ",".join([*features, str(1 - int(label))]) + "\n"
    table.write_text("".join(lines))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _short(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_a_run_records_the_sha256_of_the_file_it_trained_on(tmp_path: Path) -> None:
    _, store, base = _job(tmp_path)
    assert runner.invoke(app, base).exit_code == 0
    with RunStore(store, read_only=True) as s:
        (run,) = s.list_runs()
    table = tmp_path / "table.csv"
    assert run.config["data_files"] == {
        str(table.resolve()): hashlib.sha256(table.read_bytes()).hexdigest()
    }
    assert "bundled_data" not in run.config


def test_a_run_on_a_bundled_dataset_records_its_name_and_rengos_version(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB.replace('"csv"', '"wine"').replace('path = "table.csv"\nlabel = "y"\n', ""))
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store, read_only=True) as s:
        (run,) = s.list_runs()
    assert run.config["bundled_data"] == {"dataset": "wine", "rengo": __version__}
    assert "data_files" not in run.config


def test_a_repeat_on_a_changed_file_is_refused_naming_it_and_both_digests(
    tmp_path: Path,
) -> None:
    _, store, base = _job(tmp_path)
    assert runner.invoke(app, base).exit_code == 0
    with RunStore(store, read_only=True) as s:
        (old,) = s.list_runs()
    table = tmp_path / "table.csv"
    before = _short(table)
    _change_one_value(table)
    repeated = runner.invoke(app, [*base, "--same-as", old.run_id])
    assert repeated.exit_code == 2, repeated.output
    said = _flat(repeated.output)
    assert f"would not repeat run {old.run_id}: its data file changed" in said
    assert f"{table.resolve()} sha256 {before}…, now {_short(table)}…" in said
    assert "without --same-as" in said
    with RunStore(store, read_only=True) as s:
        assert len(s.list_runs()) == 1  # the refused repeat recorded nothing


def test_a_repeat_on_the_same_file_is_not_refused(tmp_path: Path) -> None:
    _, store, base = _job(tmp_path)
    assert runner.invoke(app, base).exit_code == 0
    with RunStore(store, read_only=True) as s:
        (old,) = s.list_runs()
    repeated = runner.invoke(app, [*base, "--same-as", old.run_id])
    assert repeated.exit_code == 0, repeated.output
    assert f"same final metrics as run {old.run_id}" in _flat(repeated.output)


@pytest.mark.parametrize("standardize", ["true", "false"])
def test_a_resume_on_a_changed_file_is_refused_and_the_run_stays_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, standardize: str
) -> None:
    """Without standardisation nothing recorded told the change (the resume went on, on
    other rows); with it, only the input scaling's numbers did, not the file."""
    job, store, base = _job(tmp_path)
    job.write_text(JOB.replace('label = "y"', f'label = "y"\nstandardize = {standardize}'))
    with open(tmp_path / "out.txt", "w") as out, monkeypatch.context() as patched:
        patched.setattr(run_job_module, "simulate", _interrupting_at(1))
        with pytest.raises(KeyboardInterrupt):
            run_job(Console(file=out), job, store_path=store, progress=False)
    with RunStore(store, read_only=True) as s:
        (run,) = s.list_runs()
    table = tmp_path / "table.csv"
    before = _short(table)
    _change_one_value(table)
    resumed = runner.invoke(app, [*base, "--resume", run.run_id])
    assert resumed.exit_code == 2, resumed.output
    said = _flat(resumed.output)
    assert f"cannot resume run {run.run_id}: its data file changed" in said
    assert f"{table.resolve()} sha256 {before}…, now {_short(table)}…" in said
    assert "continue on other rows" in said
    with RunStore(store, read_only=True) as s:
        assert s.get_run(run.run_id).status == "interrupted"
        assert [r.round for r in s.rounds(run.run_id)] == [1]


def test_a_run_recorded_before_data_digests_is_repeated_with_a_note_not_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store, base = _job(tmp_path)
    with monkeypatch.context() as patched:  # as a release before digests recorded it
        patched.setattr(build_module, "job_data_files", lambda spec: {})
        assert runner.invoke(app, base).exit_code == 0
    with RunStore(store, read_only=True) as s:
        (old,) = s.list_runs()
    assert "data_files" not in old.config
    _change_one_value(tmp_path / "table.csv")
    repeated = runner.invoke(app, [*base, "--same-as", old.run_id])
    assert repeated.exit_code == 0, repeated.output
    said = _flat(repeated.output)
    assert said.count(f"note: run {old.run_id} was recorded before runs kept") == 1
