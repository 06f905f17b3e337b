"""Job-file settings added for a newcomer: --set overrides checked like the file, checkpoint
retention, the [contribution] section, and train.device."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.core.errors import ConfigError
from rengo.hfl import CheckpointRetention
from rengo.jobs import ContributionSettings, apply_overrides, load_job, parse_job

JOB = """
[job]
name = "settings"
rounds = 2
[data]
dataset = "wine"
[model]
type = "logistic"
[train]
lr = 0.1
"""


def _file(tmp_path: Path, text: str = JOB) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def test_overrides_change_the_file_and_are_checked_like_it(tmp_path: Path) -> None:
    path = _file(tmp_path)
    spec = load_job(path, ["train.lr=0.01", "job.rounds=5", "strategy.name=fedadam"])
    assert (spec.train.lr, spec.job.rounds, spec.strategy.name) == (0.01, 5, "fedadam")
    assert load_job(path).train.lr == 0.1  # the file is untouched
    with pytest.raises(ConfigError, match=r"job.rounds must be >= 1.*--set job.rounds=0|--set"):
        load_job(path, ["job.rounds=0"])
    with pytest.raises(ConfigError, match="did you mean 'rounds'"):
        load_job(path, ["job.roundz=3"])
    with pytest.raises(ConfigError, match=r"SECTION.KEY=VALUE"):
        load_job(path, ["rounds=3"])
    with pytest.raises(ConfigError, match=r"job.rounds must be int"):
        load_job(path, ["job.rounds=many"])


def test_override_values_are_toml_values() -> None:
    raw = apply_overrides({"model": {}}, ["model.hidden=[8, 4]", "data.standardize=false"])
    assert raw == {"model": {"hidden": [8, 4]}, "data": {"standardize": False}}
    with pytest.raises(ConfigError, match="is a value, not a table"):
        apply_overrides({"job": {"name": "x"}}, ["job.name.first=y"])


def test_checkpoints_section_defaults_to_what_resume_needs() -> None:
    base = {"data": {"dataset": "wine"}, "model": {"type": "logistic"}}
    assert parse_job(base).checkpoints == CheckpointRetention(keep_last=1, every=0)
    spec = parse_job({**base, "checkpoints": {"keep_last": 3, "every": 10}})
    assert spec.checkpoints == CheckpointRetention(keep_last=3, every=10)
    with pytest.raises(ConfigError, match=r"checkpoints.keep_last must be >= 1"):
        parse_job({**base, "checkpoints": {"keep_last": 0}})


def test_contribution_section_resolves_per_kind_and_names_bad_values() -> None:
    base = {"data": {"dataset": "wine"}, "model": {"type": "logistic"}}
    spec = parse_job({**base, "contribution": {"budget": 1000}})
    assert spec.contribution == ContributionSettings(method="gtg", metric="accuracy", budget="1000")
    assert spec.contribution.budget_minor == 100_000
    with pytest.raises(ConfigError, match=r"contribution.method = 'shapley'.*gtg"):
        parse_job({**base, "contribution": {"method": "shapley"}})
    with pytest.raises(ConfigError, match=r"contribution.budget"):
        parse_job({**base, "contribution": {"budget": "lots"}})
    with pytest.raises(ConfigError, match=r"contribution.policy"):
        parse_job({**base, "contribution": {"policy": "stake"}})
    vertical = parse_job(
        {
            "job": {"kind": "vfl"},
            "vfl": {"dataset": "breast_cancer"},
            "contribution": {"metric": "ks"},
        }
    )
    assert vertical.contribution is not None
    assert (vertical.contribution.method, vertical.contribution.metric) == ("shapley", "ks")


def test_train_device_is_a_device_kind_and_logistic_stays_on_the_cpu() -> None:
    base = {"data": {"dataset": "wine"}}
    assert parse_job({**base, "train": {"device": "cuda:1"}}).train.device == "cuda:1"
    assert parse_job({**base, "train": {"device": "auto"}}).train.device == "auto"
    with pytest.raises(ConfigError, match=r"train.device = 'gpu'"):
        parse_job({**base, "train": {"device": "gpu"}})
    with pytest.raises(ConfigError, match="trains with numpy on the CPU"):
        parse_job({**base, "model": {"type": "logistic"}, "train": {"device": "cuda"}})
