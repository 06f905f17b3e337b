"""A run that a release before the upgrade left interrupted resumes after it: the run store
an earlier release wrote (``fixtures/interrupted_run_2026-12-04.db.gz``, made by the
2026-12-04 release with ``rengo run job.toml`` from the job file's folder, stopped by Ctrl-C
after round 2 of 4) continues with ``rengo run JOB --resume RUN``."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore
from rengo.tracking.resume_settings import settings_differences

runner = CliRunner(env={"COLUMNS": "250"})

FIXTURE = Path(__file__).parent / "fixtures" / "interrupted_run_2026-12-04.db.gz"
RUN_ID = "20261205-233719-86c296"

JOB = """
[job]
name = "resumable"
rounds = 4
seed = 3
[data]
dataset = "wine"
[partition]
scheme = "dirichlet"
num_clients = 4
alpha = 0.5
[model]
type = "logistic"
[train]
lr = 0.2
[strategy]
name = "fedavg"
"""
"""The job the fixture's run started from (as ``job.toml``)."""


def _old_store(tmp_path: Path) -> Path:
    store_path = tmp_path / "runs.db"
    store_path.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    return store_path


def test_a_run_an_earlier_release_left_interrupted_resumes_to_its_last_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_path = _old_store(tmp_path)
    (tmp_path / "job.toml").write_text(JOB)
    monkeypatch.chdir(tmp_path)  # the folder the run started in, as its operator would
    result = runner.invoke(
        app,
        ["run", "job.toml", "--store", str(store_path), "--no-progress", "--resume", RUN_ID],
    )
    assert result.exit_code == 0, result.output
    with RunStore(store_path) as store:
        assert store.get_run(RUN_ID).status == "completed"
        assert [r.round for r in store.rounds(RUN_ID)] == [1, 2, 3, 4]
        assert any(e.message == "resumed after round 2" for e in store.events(RUN_ID))


def test_a_resume_with_another_job_file_than_the_old_run_recorded_is_still_refused(
    tmp_path: Path,
) -> None:
    store_path = _old_store(tmp_path)
    other = tmp_path / "other.toml"
    other.write_text(JOB)
    result = runner.invoke(
        app, ["run", str(other), "--store", str(store_path), "--no-progress", "--resume", RUN_ID]
    )
    assert result.exit_code == 2, result.output
    assert f"job_file 'job.toml', now '{other}'" in " ".join(result.output.split())
    with RunStore(store_path) as store:
        assert store.get_run(RUN_ID).status == "interrupted"


@pytest.mark.parametrize(
    ("saved", "now", "same"),
    [
        ("job.toml", "/srv/jobs/job.toml", True),
        ("jobs/job.toml", "/srv/jobs/job.toml", True),
        ("./job.toml", "/srv/jobs/job.toml", True),
        ("job.toml", "/srv/jobs/other.toml", False),
        ("old/job.toml", "/srv/jobs/job.toml", False),
        ("../jobs/job.toml", "/srv/jobs/job.toml", False),
        ("/srv/old/job.toml", "/srv/jobs/job.toml", False),
    ],
)
def test_a_job_file_recorded_relative_agrees_only_with_an_absolute_path_ending_with_it(
    saved: str, now: str, same: bool
) -> None:
    differs = settings_differences({"job_file": saved}, {"job_file": now})
    assert differs == ([] if same else [f"job_file {saved!r}, now {now!r}"])
