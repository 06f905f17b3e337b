"""Job-file settings added for a newcomer: --set overrides checked like the file, checkpoint
retention, the [contribution] section, and train.device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


# Every setting a horizontal run records (job_settings), as of 2026-12-06. A resume or a
# --same-as of a run recorded before a setting existed compares the job's value with
# nothing and is refused; a setting added since must be recorded only when set to another
# value than its default (jobs.build.RECORDED_WHEN_SET), so older runs still compare equal.
RECORDED_SETTINGS = {
    "job": "rounds seed",
    "data": "dataset path label id_column task test_size standardize images labels "
    "client_test_size",
    "partition": "scheme num_clients options",
    "model": "type hidden app",
    "train": "lr local_epochs batch_size device",
    "strategy": "name fraction_fit min_fit_clients fraction_evaluate min_evaluate_clients "
    "min_available_clients options",
    "privacy": "dp central local secagg",
    "privacy.central": "noise_multiplier clip_norm adaptive_clipping target_quantile "
    "clip_learning_rate clipped_count_stddev sampling_rate delta target_epsilon accountant "
    "weighting weight_cap clip_at seeded_noise",
    "privacy.local": "noise_multiplier max_grad_norm delta target_epsilon accountant "
    "poisson_sampling seeded_noise",
    "privacy.secagg": "neighbours threshold clip_range quantisation_bits max_examples signed",
    "robust": "attack attackers options",
    "result_checks": "max_claimed_examples max_weight_ratio max_update_norm_ratio "
    "max_evaluation_weight_ratio max_evaluation_loss_ratio",
    "contribution": "method metric budget currency policy outside_dp max_evaluations",
}
_SECTIONS_WITH_OPEN_OPTIONS = {"options"}  # a scheme's or strategy's own keys, as given


def _recorded_keys(settings: dict[str, Any], at: str = "") -> dict[str, set[str]]:
    """The keys of each recorded mapping, by its dotted path (``privacy.central``)."""
    found: dict[str, set[str]] = {}
    for key, value in settings.items():
        path = f"{at}.{key}" if at else key
        if isinstance(value, dict) and key not in _SECTIONS_WITH_OPEN_OPTIONS:
            found[path] = set(value)
            for sub, keys in _recorded_keys(value, path).items():
                found[sub] = keys
    return found


def test_a_setting_added_to_a_job_is_recorded_only_when_it_is_not_its_default() -> None:
    """Fails when a job section gains a setting (or loses one): add it to
    jobs.build.RECORDED_WHEN_SET, then here, or runs recorded before it cannot be resumed
    or repeated with --same-as (their record lacks it)."""
    from rengo.jobs.build import job_settings

    base = {"data": {"dataset": "iris"}, "partition": {"num_clients": 5}}
    jobs = [
        {
            **base,
            "model": {"type": "logistic"},
            "privacy": {"dp": "central", "noise_multiplier": 0.7},
            "robust": {"attack": "sign_flip", "attackers": 1},
            "result_checks": {"max_claimed_examples": 1000, "max_evaluation_loss_ratio": 20.0},
            "contribution": {"method": "loo"},
        },
        {**base, "model": {"type": "mlp"}, "privacy": {"dp": "local", "secagg": True}},
    ]
    found: dict[str, set[str]] = {}
    for raw in jobs:
        for path, keys in _recorded_keys(job_settings(parse_job(raw))).items():
            found.setdefault(path, set()).update(keys)
    expected = {path: set(keys.split()) for path, keys in RECORDED_SETTINGS.items()}
    assert found == expected


def test_a_run_recorded_before_the_evaluation_loss_bound_still_compares_equal() -> None:
    """result_checks.max_evaluation_loss_ratio came later: at its default it is left out of
    the record, so a run recorded before it resumes with the same job."""
    from rengo.jobs.build import job_settings

    raw = {"data": {"dataset": "iris"}, "result_checks": {"max_claimed_examples": 1000}}
    recorded = job_settings(parse_job(raw))["result_checks"]
    assert "max_evaluation_loss_ratio" not in recorded
    assert recorded["max_claimed_examples"] == 1000
    assert "result_checks" not in job_settings(parse_job({"data": {"dataset": "iris"}}))
