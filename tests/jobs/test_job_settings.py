"""Job-file settings added for a newcomer: --set overrides checked like the file, checkpoint
retention, the [contribution] section, and train.device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.core.messages import FitResult
from rengo.hfl import CheckpointRetention
from rengo.jobs import (
    ContributionSettings,
    apply_overrides,
    contribution_tracker,
    load_job,
    parse_job,
)

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


def test_a_job_caps_the_coalition_evaluations_of_its_sampled_valuation() -> None:
    """A researcher valuing 200 clients a round through a job file had no way to bound the
    cost: method "tmc" ran up to 2,000 permutations a round (364,603 evaluations on a
    cheap 200-player game). ``[contribution] max_evaluations`` caps each round."""
    base = {"data": {"dataset": "wine"}, "model": {"type": "logistic"}}
    spec = parse_job({**base, "contribution": {"method": "tmc", "max_evaluations": 300}})
    assert spec.contribution is not None and spec.contribution.max_evaluations == 300
    with pytest.raises(ConfigError, match=r"contribution.max_evaluations must be >= 0"):
        parse_job({**base, "contribution": {"max_evaluations": -1}})
    with pytest.raises(ConfigError, match=r"max_evaluations caps a sampled valuation"):
        parse_job({**base, "contribution": {"method": "mr", "max_evaluations": 300}})
    clients = [f"c{i}" for i in range(30)]
    weights = np.random.default_rng(0).uniform(1, 10, len(clients))

    def evaluate(params: list[np.ndarray]) -> tuple[float, dict[str, float]]:
        return 0.0, {"accuracy": float(np.log1p(params[0].sum()))}

    for method in ("tmc", "gtg"):
        settings = ContributionSettings(method=method, max_evaluations=300)
        tracker = contribution_tracker(settings, evaluate, seed=0)
        start = [np.zeros(1)]
        for cid, w in zip(clients, weights, strict=True):
            tracker.on_fit_result(1, start, cid, FitResult([np.full(1, w)], 1))
        tracker.on_round_end(1, start, [np.full(1, weights.mean())], {})
        assert 300 <= tracker.rounds[0].evaluations < 300 + len(clients)
        assert tracker.rounds[0].stopped_by.startswith("300 coalition evaluations")
