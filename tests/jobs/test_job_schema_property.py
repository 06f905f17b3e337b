"""Every job-file key is checked from one schema: whatever TOML value lands on whatever key
(or an extra key appears), reading the job gives a valid job or a ConfigError that names
the key - never another exception."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rengo.core.errors import ConfigError
from rengo.core.options import option_specs
from rengo.hfl import ResultChecks
from rengo.jobs import JobSpec, parse_job
from rengo.jobs.spec import (
    DataSection,
    DeploySection,
    JobSection,
    ModelSection,
    PartitionSection,
    StrategySection,
    TrainSection,
)
from rengo.jobs.vertical_spec import VflSection
from rengo.transport.straggler import StragglerWait

HORIZONTAL: dict[str, Any] = {
    "job": {"name": "t", "seed": 1, "rounds": 2, "round_timeout": 30.0},
    "data": {"dataset": "iris", "test_size": 0.25},
    "partition": {"scheme": "dirichlet", "num_clients": 3, "alpha": 0.5},
    "model": {"type": "logistic", "hidden": [8]},
    "train": {"lr": 0.1, "batch_size": 8},
    "strategy": {"name": "fedprox", "proximal_mu": 0.1, "fraction_evaluate": 0.5},
    "result_checks": {"max_weight_ratio": 3.0},
    "deploy": {"parties": ["a", "b", "c"], "quorum": 2},
}
VERTICAL: dict[str, Any] = {
    "job": {"kind": "vfl", "seed": 2},
    "vfl": {"label_party": "card", "parties": {"card": "c.csv", "bank": "b.csv"}, "epochs": 2},
}
SECTION_TYPES = {
    "job": JobSection,
    "data": DataSection,
    "partition": PartitionSection,
    "model": ModelSection,
    "train": TrainSection,
    "strategy": StrategySection,
    "result_checks": ResultChecks,
    "deploy": DeploySection,
    "vfl": VflSection,
}
EXTRA_KEYS = {
    "partition": ["alpha", "min_size", "max_retries", "shards_per_client"],
    "strategy": ["name", "proximal_mu", "eta", "num_byzantine"],
    "vfl": ["epochs", "learning_rate", "key_bits", "optimizer", "batch_size"],
}

scalars = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(max_value=dt.datetime(9999, 1, 1)),
    st.dates(),
    st.times(),
    st.sampled_from(["iid", "fedavg", "csv", "vfl", "hfl", "mlp", "card", "bank", ""]),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def keys_of(section: str) -> list[str]:
    return [spec.name for spec in option_specs(SECTION_TYPES[section])] + EXTRA_KEYS.get(
        section, []
    )


@st.composite
def edits(draw: st.DrawFn, base: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """``base`` with 1-3 keys set to random TOML values (known keys or new ones)."""
    raw = copy.deepcopy(base)
    touched: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(set(raw) | {"data", "deploy"})))
        key = draw(st.one_of(st.sampled_from(keys_of(section) or ["x"]), st.text(min_size=1)))
        if section not in raw:
            touched.add(section)  # a section the job did not have: the error may name it
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            continue
        table[key] = draw(toml_values)
        touched.add(key)
    return raw, touched


def check(raw: dict[str, Any], touched: set[str]) -> None:
    try:
        spec = parse_job(raw)
    except ConfigError as exc:
        message = str(exc)
        assert any(key in message or repr(key) in message for key in touched), (touched, message)
    else:
        assert isinstance(spec, JobSpec)


@pytest.mark.timeout(120)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits(HORIZONTAL))
def test_any_toml_value_on_any_horizontal_key_is_a_valid_job_or_a_named_error(
    edited: tuple[dict[str, Any], set[str]],
) -> None:
    check(*edited)


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits(VERTICAL))
def test_any_toml_value_on_any_vertical_key_is_a_valid_job_or_a_named_error(
    edited: tuple[dict[str, Any], set[str]],
) -> None:
    check(*edited)


def test_the_unedited_jobs_are_valid() -> None:
    assert parse_job(copy.deepcopy(HORIZONTAL)).deploy.quorum == 2
    assert parse_job(copy.deepcopy(VERTICAL)).vfl is not None


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("job", "round_timeout", "abc", "job.round_timeout must be float, got str 'abc'"),
        ("job", "round_timeout", -5, r"job.round_timeout must be in \(0, 604800\], got -5"),
        ("strategy", "fraction_evaluate", 5.0, r"strategy.fraction_evaluate must be in \[0, 1\]"),
        ("model", "hidden", ["a", 3], "model.hidden item 0 must be int, got str 'a'"),
        ("job", "workers", "many", "job.workers must be int, got str 'many'"),
        ("strategy", "min_available_clients", -1, "strategy.min_available_clients must be in"),
        ("data", "id_column", 5, "data.id_column must be str, got int 5"),
        ("job", "rounds", 10**15, r"job.rounds must be in \[1, 1000000\]"),
        ("train", "lr", float("nan"), "train.lr must be a finite number, got nan"),
        ("partition", "alpha", -1.0, r"partition.alpha must be > 0, got -1"),
        ("deploy", "parties", ["a", "../../etc"], "deploy.parties entry '../../etc' must be"),
        ("result_checks", "max_weight_ratio", 0.5, "result_checks.max_weight_ratio must be in"),
        ("deploy", "straggler_factor", 0.5, "deploy.straggler_factor must be 0 .off. or >= 1"),
        ("deploy", "straggler_grace", -1.0, "deploy.straggler_grace must be in"),
        ("deploy", "heartbeat_timeout", 2.0, r"deploy.heartbeat_timeout must be in \(2, "),
    ],
)
def test_the_values_the_readme_says_are_refused_are_refused(
    section: str, key: str, value: Any, message: str
) -> None:
    raw = copy.deepcopy(HORIZONTAL)
    raw[section][key] = value
    with pytest.raises(ConfigError, match=message):
        parse_job(raw)


def test_the_deploy_section_names_the_straggler_rule_or_turns_it_off() -> None:
    raw = copy.deepcopy(HORIZONTAL)
    assert parse_job(copy.deepcopy(raw)).deploy.stragglers() == StragglerWait()
    raw["deploy"].update(straggler_factor=4.0, straggler_grace=5.0)
    assert parse_job(copy.deepcopy(raw)).deploy.stragglers() == StragglerWait(factor=4, grace=5)
    raw["deploy"]["straggler_link_kbps"] = 1000.0  # 1 Mbit/s: 125 kB/s
    assert parse_job(copy.deepcopy(raw)).deploy.stragglers() == StragglerWait(
        factor=4, grace=5, slowest_link=125_000
    )
    raw["deploy"]["straggler_factor"] = 0
    assert parse_job(raw).deploy.stragglers() is None
