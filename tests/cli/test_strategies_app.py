"""``rengo strategies --app module:Class`` lists the user's own strategy beside the built-ins,
with its options, and ``rengo run`` runs a job whose ``[strategy] app`` names it."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app

runner = CliRunner(env={"COLUMNS": "200"})

STRATEGY = '''
from dataclasses import dataclass

from rengo.hfl import FedAvg


@dataclass
class {cls}(FedAvg):
    """FedAvg that decays the clients' learning rate."""

    decay: float = 0.5
'''


def write_job(folder: Path, app_name: str, rounds: int = 1, extra: str = "") -> Path:
    """A job file in ``folder`` whose [strategy] app is ``app_name``."""
    job = folder / "job.toml"
    job.write_text(
        f'[job]\nname = "own"\nrounds = {rounds}\n[data]\ndataset = "iris"\n[partition]\n'
        f'num_clients = 3\n[model]\ntype = "logistic"\n[strategy]\napp = "{app_name}"\n{extra}'
    )
    return job


@pytest.fixture
def own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    module, cls = f"own_{uuid.uuid4().hex[:8]}", f"Decay{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(STRATEGY.format(cls=cls))
    monkeypatch.chdir(tmp_path)
    yield module, cls
    sys.modules.pop(module, None)


def test_strategies_app_lists_the_users_class_with_its_options(own: tuple[str, str]) -> None:
    module, cls = own
    result = runner.invoke(app, ["strategies", "--app", f"{module}:{cls}"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if cls.lower() in line)
    assert "decay (float) = 0.5" in row and "FedAvg that decays" in row
    assert "fedadam" in result.output  # the built-ins are still there


def test_strategies_app_names_what_is_missing(own: tuple[str, str]) -> None:
    module, _ = own
    result = runner.invoke(app, ["strategies", "--app", f"{module}:Nope"])
    assert result.exit_code != 0
    assert f"module '{module}' has no attribute 'Nope'" in result.output


def test_run_runs_a_job_whose_strategy_is_the_users_class(
    own: tuple[str, str], tmp_path: Path
) -> None:
    module, cls = own
    job = write_job(tmp_path, f"{module}:{cls}", rounds=2, extra="decay = 0.25\n")
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"own: {cls.lower()} over 3 clients" in result.output and "completed" in result.output


def test_runs_job_writes_back_a_job_whose_strategy_is_found_beside_its_job_file(
    own: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, cls = own
    job = write_job(tmp_path, f"{module}:{cls}", rounds=1)
    store = tmp_path / "runs.db"
    ran = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # another folder, in a fresh process: nothing imported yet
    monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p) != tmp_path])
    written = runner.invoke(app, ["runs", "job", "latest", "--store", str(store)])
    assert written.exit_code == 0, written.output
    assert f'app = "{module}:{cls}"' in written.output
    assert f"[strategy] app {module}:{cls} was found in {tmp_path}: run this file" in (
        written.output.replace("\n# ", " ")
    )


UNDECLARED = """
from dataclasses import dataclass

import numpy as np

from rengo.hfl import FedAvg, ServerState


@dataclass(frozen=True)
class Mom(ServerState):
    momentum: list


@dataclass
class {cls}(FedAvg):
    def init_state(self, parameters):
        return Mom([np.zeros_like(p) for p in parameters])
"""


def test_run_refuses_an_undeclared_server_state_type_in_one_line(tmp_path: Path) -> None:
    module, cls = f"undecl_{uuid.uuid4().hex[:8]}", f"NoDecl{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(UNDECLARED.format(cls=cls))
    job = write_job(tmp_path, f"{module}:{cls}", rounds=1)
    try:
        result = runner.invoke(
            app, ["run", str(job), "--store", str(tmp_path / "r.db"), "--no-progress"]
        )
    finally:
        sys.modules.pop(module, None)
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert result.exit_code == 2, result.output
    assert f"error: {cls}.server_state is a Mom, but {cls}.state_type is None" in result.output


def test_runs_export_and_runs_job_do_not_import_a_strategy_app_that_moved(
    own: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, cls = own
    job = write_job(tmp_path, f"{module}:{cls}", rounds=1, extra="decay = 0.25\n")
    store = tmp_path / "runs.db"
    ran = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    (tmp_path / f"{module}.py").rename(tmp_path / f"{module}_v2.py")  # the user renamed it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # a folder holding another file of that name, which must not run
    (elsewhere / f"{module}.py").write_text("raise SystemExit('imported the wrong module')\n")
    monkeypatch.chdir(elsewhere)
    monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p) != tmp_path])
    out = elsewhere / "model.npz"
    exported = runner.invoke(
        app, ["runs", "export", "latest", "--store", str(store), "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    assert out.is_file() and "names from the logistic model" in exported.output
    written = runner.invoke(app, ["runs", "job", "latest", "--store", str(store)])
    assert written.exit_code == 0, written.output
    assert f'app = "{module}:{cls}"' in written.output and "decay = 0.25" in written.output
    assert module not in sys.modules  # neither command imported a module of that name
    assert f"[strategy] app {module}:{cls} is not beside the run's job file" in (
        written.output.replace("\n# ", " ")
    )
