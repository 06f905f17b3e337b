"""The vertical registry: algorithms are found, not listed by hand; a description is checked
when it is made; the runner holds algorithms to their description."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.core.options import option
from rengo.vfl import (
    HETERO_LR,
    HeteroLogisticRegression,
    HeteroLRConfig,
    Models,
    PartyData,
    PartyTable,
    Roles,
    VerticalAlgorithm,
    VerticalPlan,
    algorithms,
    get_algorithm,
    register,
    simulate_vertical,
    unregister,
)
from rengo.vfl.estimator import VerticalEstimator


@dataclass(frozen=True)
class EchoConfig:
    """Nothing to set but a label."""

    tag: str = option("echo", "A label.")


def _role(channel: Any, ctx: Any, data: Any, state: Any) -> Any:
    return "not a model"


def echo(name: str = "echo_test") -> VerticalAlgorithm[EchoConfig]:
    return VerticalAlgorithm(
        name=name,
        title="echo",
        config_type=EchoConfig,
        train=Roles(label_party=_role, feature_party=_role),
        predict=Roles(label_party=_role, feature_party=_role),
        models=Models(label_party=dict, feature_party=dict),
    )


@pytest.fixture
def registered() -> Iterator[VerticalAlgorithm[EchoConfig]]:
    algorithm = register(echo())
    yield algorithm
    unregister(algorithm.name)


def test_built_in_algorithms_are_discovered_from_their_packages() -> None:
    assert algorithms()["hetero_lr"] is HETERO_LR
    assert get_algorithm("hetero_lr").config_type is HeteroLRConfig


def test_unknown_algorithm_names_the_closest_one() -> None:
    with pytest.raises(ConfigError, match="unknown vertical algorithm 'hetero-lr'; did you mean"):
        get_algorithm("hetero-lr")


def test_one_name_one_algorithm(registered: VerticalAlgorithm[EchoConfig]) -> None:
    assert register(registered) is registered  # registering again is harmless
    with pytest.raises(ConfigError, match="echo_test"):
        register(replace(registered, title="another"))


def test_a_config_that_cannot_become_options_is_refused_when_described() -> None:
    @dataclass(frozen=True)
    class Bad:
        hidden: list[int] = option((), "not a scalar")

    with pytest.raises(TypeError, match="hidden"):
        replace(echo(), config_type=Bad)


def test_the_plan_takes_only_the_algorithms_own_config(
    registered: VerticalAlgorithm[EchoConfig],
) -> None:
    assert VerticalPlan("a", ("b",), algorithm="echo_test").config == EchoConfig()
    with pytest.raises(ConfigError, match="echo_test takes a EchoConfig"):
        VerticalPlan("a", ("b",), HeteroLRConfig(), algorithm="echo_test")
    with pytest.raises(ConfigError, match="reserved"):
        VerticalPlan("a", ("coordinator",), algorithm="echo_test")


def test_the_runner_holds_a_training_role_to_its_declared_model_type(
    registered: VerticalAlgorithm[EchoConfig],
) -> None:
    ids = np.array(["x", "y", "z"])
    data = {
        "a": PartyData(PartyTable(ids, np.ones((3, 1))), np.array([0, 1, 0])),
        "b": PartyData(PartyTable(ids, np.ones((3, 1)))),
    }
    plan = VerticalPlan("a", ("b",), seed=1, score=False, algorithm="echo_test")
    with pytest.raises(TypeError, match="returned str, its description says dict"):
        simulate_vertical(plan, data, timeout=20)


def test_estimator_arguments_are_the_configs_options_with_its_defaults() -> None:
    signature = inspect.signature(HeteroLogisticRegression)
    options = {name: p.default for name, p in signature.parameters.items()}
    assert options["epochs"] == HeteroLRConfig().epochs
    assert options["key_bits"] == HeteroLRConfig().key_bits == 2048
    assert {"use_psi", "seed", "key_seed"} <= set(options)
    model = HeteroLogisticRegression(epochs=3, key_bits=512)
    assert model.epochs == 3 and model.config.key_bits == 512
    model.set_params(l2=0.5)
    assert model.get_params()["l2"] == 0.5 and model.config.l2 == 0.5
    assert repr(model) == "HeteroLogisticRegression(epochs=3, l2=0.5, key_bits=512)"
    with pytest.raises(ConfigError, match="epochs must be >= 1, got 0"):
        model.epochs = 0
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        HeteroLogisticRegression(epoch=3)


def _slow_guest(channel: Any, ctx: Any, data: Any, state: Any) -> Any:
    time.sleep(2.5)  # training: longer than the test's per-message timeout
    channel.send(ctx.coordinator, "report", "trained")
    return {}


def _idle_host(channel: Any, ctx: Any, data: Any, state: Any) -> Any:
    return {}


def _waiting_coordinator(channel: Any, ctx: Any, data: Any, state: Any) -> Any:
    return {"report": channel.recv(ctx.label_party, "report")}


@pytest.mark.timeout(60)
def test_a_simulated_run_that_trains_longer_than_one_message_wait_completes() -> None:
    """The coordinator's waits for the label party's report and for every party's end of
    training span the whole training (as in SecureBoost with the label party's keys, or
    split learning): the per-message timeout caps the parties' waits, not those (before, a
    SecureBoost or SplitNN fit of more than 600 s failed with 'coordinator waited for ...
    in vain')."""
    algorithm = register(
        VerticalAlgorithm(
            name="slow_test",
            title="slow",
            config_type=EchoConfig,
            train=Roles(
                label_party=_slow_guest,
                feature_party=_idle_host,
                coordinator=_waiting_coordinator,
            ),
            predict=Roles(label_party=_idle_host, feature_party=_idle_host),
            models=Models(label_party=dict, feature_party=dict, coordinator=dict),
        )
    )
    try:
        ids = np.array(["x", "y", "z"])
        data = {
            "a": PartyData(PartyTable(ids, np.ones((3, 1))), np.array([0, 1, 0])),
            "b": PartyData(PartyTable(ids, np.ones((3, 1)))),
        }
        plan = VerticalPlan("a", ("b",), seed=1, score=False, algorithm=algorithm.name)
        run = simulate_vertical(plan, data, timeout=1.0, psi_workers=1)
    finally:
        unregister(algorithm.name)
    assert run.coordinator.training == {"report": "trained"}
    assert run.coordinator.parties["a"]["train_rows"] == 3


def test_every_algorithm_builds_its_own_estimator_in_a_fresh_process() -> None:
    """A transfer job built a generic estimator unless something had imported
    rengo.ftl.estimator first (its algorithm registers by entry point, and its package
    exports lazily): the job's model then lacked TransferClassifier's fit (its divergence
    warning) and fitted attributes (target_model_), and tests passed only in a whole-suite
    run where an earlier test imported it."""
    import subprocess
    import sys

    probe = (
        "from rengo.vfl.estimator import VerticalEstimator\n"
        "from rengo.vfl.registry import algorithms\n"
        "for name, spec in algorithms().items():\n"
        "    cls = VerticalEstimator.for_algorithm(spec)\n"
        "    print(name, cls.__module__, cls.__name__)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    built = {line.split()[0]: line.split()[1] for line in found if line}
    assert built["ftl"] == "rengo.ftl.estimator"
    assert all(module != "rengo.vfl.estimator" for module in built.values()), built


def test_an_estimator_named_by_an_algorithm_must_be_its_own() -> None:
    spec = replace(HETERO_LR, name="hetero_lr_copy", estimator="rengo.vfl:HeteroLogisticRegression")
    with pytest.raises(ConfigError, match="is not an estimator class of it"):
        VerticalEstimator.for_algorithm(spec)
