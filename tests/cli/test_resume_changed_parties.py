"""A resume without ``--parties`` of a run whose parties were changed while it ran (``rengo
runs parties RUN --admit/--remove``) continues with the run's recorded parties, saying so:
the command a coordinator prints at start (``--resume RUN`` if this process dies, after a
SIGKILL, an OOM or a reboot) used the job's list, and took the change back (the removed
party was allow-listed again). ``--parties`` still names others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import rengo.deploy
from rengo.cli.main import app
from rengo.core.errors import ConfigError
from rengo.tracking import RunStore
from tests.cli.test_coordinator_interrupt import write_served_job

runner = CliRunner()


def _served_parties(
    monkeypatch: pytest.MonkeyPatch, job: Path, db: Path, *extra: str
) -> tuple[list[str], str]:
    """The parties ``rengo coordinator`` would serve the run with, and what it printed."""
    served: list[list[str]] = []

    def serve(*args: Any, **kwargs: Any) -> Any:
        served.append(list(kwargs["parties"]))
        raise ConfigError("stopped by the test before serving")

    args = ["coordinator", "--job", str(job), "--listen", "127.0.0.1:0", "--insecure"]
    with monkeypatch.context() as patched:
        patched.setattr(rengo.deploy, "serve_coordinator", serve)
        result = runner.invoke(app, [*args, "--store", str(db), *extra])
    assert "stopped by the test before serving" in result.output, result.output
    (parties,) = served
    return parties, " ".join(result.output.split())


def test_a_resume_keeps_the_parties_changed_while_the_run_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = write_served_job(tmp_path)  # [deploy] parties = ["a", "b"]
    db = tmp_path / "runs.db"
    with RunStore(db) as store:
        changed = store.start_run("hfl-deployed", {"parties": ["a", "b"]})
        store.change_parties(changed, ["a", "c"], after_round=4)  # admit c, remove b
        unchanged = store.start_run("hfl-deployed", {"parties": ["a", "b"]})
    parties, output = _served_parties(monkeypatch, job, db, "--resume", changed)
    assert parties == ["a", "c"]
    assert (
        f"run {changed}'s parties were changed while it ran (rengo runs parties): it resumes "
        "with them, a, c, not the job's list (--parties names others)" in output
    )
    parties, output = _served_parties(monkeypatch, job, db, "--resume", changed, "--parties", "a,b")
    assert parties == ["a", "b"] and "were changed while it ran" not in output  # as told
    parties, output = _served_parties(monkeypatch, job, db, "--resume", unchanged)
    assert parties == ["a", "b"] and "were changed while it ran" not in output  # the job's
    parties, output = _served_parties(monkeypatch, job, db)  # a new run: the job's
    assert parties == ["a", "b"] and "were changed while it ran" not in output
    parties, _ = _served_parties(monkeypatch, job, db, "--resume", "nosuchrun")
    assert parties == ["a", "b"]  # the resume itself refuses an unknown run, naming it
