"""A job file runs the user's own strategy class (``[strategy] app = "module:Class"``), found
beside the job file, with its fields checked as ``[strategy]`` options as a built-in's are."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

from rengo.core import ConfigError
from rengo.hfl import simulate, strategy_registry
from rengo.jobs import build_hfl_job, load_job, parse_job

STRATEGY = '''
from dataclasses import dataclass

from rengo.hfl import FedAvg


@dataclass
class {cls}(FedAvg):
    """FedAvg that sends a per-round client learning rate."""

    lr0: float = 0.1
    decay: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {{self.decay}}")

    def fit_config(self, server_round):
        lr = self.lr0 * self.decay ** (server_round - 1)
        return {{**super().fit_config(server_round), "lr": lr}}
'''

JOB = """
[job]
name = "own-strategy"
rounds = 2
[data]
dataset = "iris"
[partition]
num_clients = 3
[model]
type = "logistic"
[strategy]
app = "{module}:{cls}"
{extra}
"""


@pytest.fixture
def own(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A strategy module, uniquely named, in a folder that is not the working folder."""
    module, cls = f"own_{uuid.uuid4().hex[:8]}", f"Sched{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(STRATEGY.format(cls=cls))
    yield tmp_path, module, cls
    sys.modules.pop(module, None)


def write_job(folder: Path, module: str, cls: str, extra: str = "") -> Path:
    path = folder / "job.toml"
    path.write_text(JOB.format(module=module, cls=cls, extra=extra))
    return path


def test_a_job_builds_and_runs_the_strategy_class_its_app_names(
    own: tuple[Path, str, str],
) -> None:
    folder, module, cls = own
    spec = load_job(write_job(folder, module, cls, "decay = 0.25"))
    assert spec.strategy.name == cls.lower() and spec.strategy.app == f"{module}:{cls}"
    assert cls.lower() in strategy_registry()  # listed as the built-ins are
    job = build_hfl_job(spec)
    assert type(job.strategy).__name__ == cls and job.strategy.decay == 0.25
    assert job.strategy.fit_config(3)["lr"] == pytest.approx(0.1 * 0.25**2)
    history = simulate(
        job.client_fn, job.client_ids, job.strategy, job.initial_parameters, rounds=2
    )
    assert len(history.rounds) == 2


def test_the_strategy_apps_options_are_checked_as_a_built_ins(
    own: tuple[Path, str, str],
) -> None:
    folder, module, cls = own
    with pytest.raises(ConfigError, match=r"unknown key 'decai'.*did you mean 'decay'"):
        load_job(write_job(folder, module, cls, "decai = 0.5"))
    with pytest.raises(ConfigError, match=r"decay must be float"):
        load_job(write_job(folder, module, cls, 'decay = "fast"'))
    with pytest.raises(ConfigError, match=r"decay must be in \(0, 1\], got 2.0"):
        load_job(write_job(folder, module, cls, "decay = 2.0"))


def test_a_strategy_app_that_is_missing_or_not_a_strategy_is_refused_with_the_fix(
    own: tuple[Path, str, str],
) -> None:
    folder, module, cls = own
    with pytest.raises(ConfigError, match="cannot import 'no_such_module'"):
        load_job(write_job(folder, "no_such_module", cls))
    with pytest.raises(ConfigError, match=r"not a Strategy class: subclass rengo\.hfl\.FedAvg"):
        load_job(write_job(folder, "json", "loads"))
    with pytest.raises(ConfigError, match=rf"registered as '{cls.lower()}'.*leave strategy\.name"):
        load_job(write_job(folder, module, cls, 'name = "fedavg"'))


def test_an_unknown_strategy_name_points_to_strategy_app(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    text = JOB.format(module="m", cls="C", extra="")
    path.write_text(text.replace('app = "m:C"', 'name = "mine"'))
    with pytest.raises(ConfigError, match=r'\[strategy\] app = "module:Class"'):
        load_job(path)


def test_a_job_read_without_loading_apps_imports_nothing_and_keeps_its_options() -> None:
    module = f"absent_{uuid.uuid4().hex[:8]}"
    raw = tomllib.loads(JOB.format(module=module, cls="Sched", extra="decay = 0.25"))
    spec = parse_job(raw, load_apps=False)
    assert spec.strategy.name == "sched" and spec.strategy.app == f"{module}:Sched"
    assert spec.strategy.options == {"decay": 0.25} and module not in sys.modules
    with pytest.raises(ConfigError, match=f"cannot import '{module}'"):
        parse_job(raw)  # a job that trains imports it
