"""Every public config built in Python is held to what a job file or a flag is held to.

Job files, flags and the wire dicts go through ``options_from_mapping``, which checks each
value's type, choices and declared range; a config built directly (``SecureBoostConfig(
objective="binary:bce")``) skipped those checks, and the code's ``if objective == "binary"
... elif ... else`` branches then ran the last branch (a regression) for any other value.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from rengo.core.options import OptionError, OptionSpec, option_specs
from rengo.data.partition import DirichletOptions, QuantityOptions, ShardOptions
from rengo.ftl import TransferConfig
from rengo.hfl import CheckpointRetention, ResultChecks
from rengo.hfl.mods import (
    BackdoorAttack,
    GaussianAttack,
    LabelFlipAttack,
    ScaledUpdateAttack,
    SignFlipAttack,
)
from rengo.jobs import ContributionSettings
from rengo.privacy import CentralDP, LocalDP, SecAgg
from rengo.vfl import (
    HeteroLinearConfig,
    HeteroLRConfig,
    HeteroPoissonConfig,
    SecureBoostConfig,
    SplitNNConfig,
)

CONFIGS: tuple[type, ...] = (
    SecureBoostConfig,
    HeteroLRConfig,
    HeteroLinearConfig,
    HeteroPoissonConfig,
    SplitNNConfig,
    TransferConfig,
    CentralDP,
    LocalDP,
    SecAgg,
    ResultChecks,
    CheckpointRetention,
    ContributionSettings,
    DirichletOptions,
    ShardOptions,
    QuantityOptions,
    ScaledUpdateAttack,
    SignFlipAttack,
    GaussianAttack,
    LabelFlipAttack,
    BackdoorAttack,
)


def _cases(check: str) -> list[Any]:
    """``(config, spec)`` pairs for every option the check applies to."""
    cases = []
    for config in CONFIGS:
        for spec in option_specs(config):
            scalar = spec.item_type is None
            if check == "choices" and spec.choices is not None:
                cases.append(pytest.param(config, spec, id=f"{config.__name__}.{spec.name}"))
            if check == "bounds" and scalar and _outside(spec) is not None:
                cases.append(pytest.param(config, spec, id=f"{config.__name__}.{spec.name}"))
            if check == "numbers" and scalar and spec.type in (int, float):
                cases.append(pytest.param(config, spec, id=f"{config.__name__}.{spec.name}"))
    return cases


def _outside(spec: OptionSpec) -> float | None:
    """A value just outside the option's declared range (None: unbounded)."""
    bounds = spec.bounds
    step = 1 if spec.type is int else 0.5
    if bounds.ge is not None:
        return bounds.ge - step
    if bounds.gt is not None:
        return bounds.gt
    if bounds.le is not None:
        return bounds.le + step
    return bounds.lt


def test_every_config_listed_here_is_a_dataclass_of_options() -> None:
    for config in CONFIGS:
        assert dataclasses.is_dataclass(config)
        assert option_specs(config), config


@pytest.mark.parametrize(("config", "spec"), _cases("choices"))
def test_a_value_outside_the_choices_is_refused_naming_the_option(
    config: type, spec: OptionSpec
) -> None:
    with pytest.raises(OptionError, match="choose one of") as caught:
        config(**{spec.name: "not-a-choice"})
    assert caught.value.option == spec.name


@pytest.mark.parametrize(("config", "spec"), _cases("bounds"))
def test_a_value_outside_the_declared_range_is_refused_naming_the_option(
    config: type, spec: OptionSpec
) -> None:
    value = _outside(spec)
    assert value is not None
    with pytest.raises(OptionError) as caught:
        config(**{spec.name: spec.type(value)})
    assert caught.value.option == spec.name
    assert spec.bounds.describe() in str(caught.value)


@pytest.mark.parametrize(("config", "spec"), _cases("numbers"))
def test_a_number_option_refuses_text_and_non_finite_values(config: type, spec: OptionSpec) -> None:
    with pytest.raises(OptionError, match=f"must be {spec.type.__name__}") as caught:
        config(**{spec.name: "3"})
    assert caught.value.option == spec.name
    if spec.type is float:
        for value in (math.nan, math.inf):
            with pytest.raises(OptionError, match="finite") as caught:
                config(**{spec.name: value})
            assert caught.value.option == spec.name


def test_defaults_ints_for_floats_and_numpy_scalars_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    for config in CONFIGS:
        config()
    assert DirichletOptions(alpha=1).alpha == 1
    assert HeteroLRConfig(learning_rate=1, epochs=np.int64(3)).epochs == 3
    assert SecureBoostConfig(learning_rate=np.float64(0.5)).learning_rate == 0.5


def test_a_boolean_is_not_taken_for_a_number() -> None:
    with pytest.raises(OptionError, match="got a boolean") as caught:
        SecureBoostConfig(n_trees=True)
    assert caught.value.option == "n_trees"
