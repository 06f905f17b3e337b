"""`rengo coordinator` stopped with Ctrl-C says how to continue: before, it printed
"interrupted; completed rounds are kept in the run store" with neither the run's id nor the
command (`rengo run` names both), so the operator had to find the run in `rengo runs list`
and rebuild the command line to resume it."""

from __future__ import annotations

import contextlib
import shlex
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import rengo.deploy
from rengo.cli.main import app
from rengo.core.errors import CoordinatorUnreachable
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.deploy import run_party
from rengo.hfl import Client, RoundRecord
from rengo.tracking import RunStore
from rengo.transport.grpc_party import Backoff
from rengo.transport.grpc_security import PartyCredentials

runner = CliRunner()

MODEL = """
import numpy as np

def initial():
    return [np.zeros(2)]
"""

JOB = """
[job]
name = "served"
rounds = 3
[model]
app = "toy_model:initial"
[strategy]
name = "fedavg"
[deploy]
parties = ["a", "b"]
"""


def party_until_gone(*args: Any, **kwargs: Any) -> None:
    """A party's process: it serves until the run ends, or gives up on a coordinator that
    was stopped and not restarted where it looks."""
    with contextlib.suppress(CoordinatorUnreachable):
        run_party(*args, **kwargs)


class Answering(Client):
    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        return FitResult([p + 1 for p in parameters], 5)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.5, 5)


def with_parties(serve: Callable[..., Any], stop_after: int | None) -> Callable[..., Any]:
    """``serve`` with parties a and b joining from threads once it listens, and - with
    ``stop_after`` - Ctrl-C once that round ended."""

    def serving(*args: Any, **kwargs: Any) -> Any:
        told = kwargs["on_listening"]

        def listening(hub: Any) -> None:
            told(hub)
            backoff = Backoff(initial=0.05, maximum=0.3, give_up_after=5.0)
            for name in ("a", "b"):
                threading.Thread(
                    target=party_until_gone,
                    args=(f"127.0.0.1:{hub.port}", name, lambda c: Answering()),
                    kwargs={
                        "credentials": PartyCredentials(insecure=True),
                        "heartbeat_interval": 0.5,
                        "backoff": backoff,
                    },
                    daemon=True,
                ).start()

        def stop(record: RoundRecord) -> None:
            if record.server_round == stop_after:
                raise KeyboardInterrupt

        kwargs.update(on_listening=listening, farewell=0.0)
        if stop_after is not None:
            kwargs["progress"] = stop
        return serve(*args, **kwargs)

    return serving


def write_served_job(folder: Path) -> Path:
    """The served job file (and its model's module beside it) in ``folder``."""
    (folder / "toy_model.py").write_text(MODEL)
    path = folder / "job.toml"
    path.write_text(JOB)
    return path


@pytest.fixture
def job(tmp_path: Path) -> Iterator[Path]:
    yield write_served_job(tmp_path)


@pytest.mark.timeout(120)
def test_a_stopped_coordinator_names_the_command_that_resumes_its_run(
    job: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_path = tmp_path / "runs.db"
    real = rengo.deploy.serve_coordinator
    args = ["coordinator", "--job", str(job), "--listen", "127.0.0.1:0", "--insecure"]
    args += ["--store", str(store_path), "--set", "job.seed=3"]
    with monkeypatch.context() as patched:
        patched.setattr(rengo.deploy, "serve_coordinator", with_parties(real, stop_after=1))
        stopped = runner.invoke(app, args)
    assert stopped.exit_code == 130, stopped.output
    with RunStore(store_path) as store:
        [run] = store.list_runs()
    assert run.status == "interrupted"
    command = (
        f"rengo coordinator --job {job} --listen 127.0.0.1:0 --store {store_path} --insecure "
        f"--set job.seed=3 --resume {run.run_id}"
    )
    # rich folds a long temporary path anywhere, spaces included: compare without whitespace
    assert "".join(command.split()) in "".join(stopped.output.split()), stopped.output

    # the command, followed as written, continues the run to its end
    with monkeypatch.context() as patched:
        patched.setattr(rengo.deploy, "serve_coordinator", with_parties(real, stop_after=None))
        resumed = runner.invoke(app, shlex.split(command)[1:])
    assert resumed.exit_code == 0, resumed.output
    with RunStore(store_path) as store:
        assert store.get_run(run.run_id).status == "completed"
        assert [r.round for r in store.rounds(run.run_id)] == [1, 2, 3]
