"""A strategy that keeps something across rounds outside ``server_state`` (the Flower habit,
``self.momentum = ...`` in ``aggregate_fit``) is told, in the first round, that checkpoints
do not hold it and a resumed run would lose it; one that keeps its state in a ServerState is
not."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.core.parameters import Parameters
from rengo.hfl import (
    Aggregate,
    FedAvg,
    FedAvgM,
    LogisticRegressionClient,
    ServerState,
    WeightedSum,
    simulate,
    softmax_init,
)


def client_fn(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    x = rng.normal(size=(20, 3))
    return LogisticRegressionClient(x, (x[:, 0] > 0).astype(int), lr=0.1)


def run(strategy: FedAvg, rounds: int = 3) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        simulate(client_fn, ["0", "1", "2"], strategy, softmax_init(3, 2), rounds=rounds)
    return [str(w.message) for w in caught if "checkpoints do not hold" in str(w.message)]


@dataclass
class AttributeMomentum(FedAvg):
    """Server momentum in a plain attribute, made on first use."""

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        grad = [x - m for x, m in zip(parameters, acc.mean(), strict=True)]
        old = self.kept()
        new = grad if old is None else [0.9 * v + g for v, g in zip(old, grad, strict=True)]
        self.keep(new)
        return [np.asarray(x - v) for x, v in zip(parameters, new, strict=True)]

    def kept(self) -> Any:
        return getattr(self, "momentum", None)

    def keep(self, momentum: list[np.ndarray]) -> None:
        self.momentum = momentum


@dataclass
class DecayingServerRate(FedAvg):
    """Halves a setting (a dataclass field) every round, as it configures the round."""

    client_lr: float = 1.0

    def fit_config(self, server_round: int) -> dict[str, Any]:
        self.client_lr = self.client_lr / 2
        return {**super().fit_config(server_round), "lr": self.client_lr}


def test_state_kept_in_an_attribute_is_named_once_with_the_serverstate_fix() -> None:
    (message,) = run(AttributeMomentum())
    assert message.startswith("AttributeMomentum set 'momentum' during round 1")
    assert "resumed" in message and "ServerState" in message and "init_state" in message


def test_a_setting_replaced_during_a_round_is_named() -> None:
    (message,) = run(DecayingServerRate())
    assert message.startswith("DecayingServerRate set 'client_lr' during round 1")


@dataclass
class Bookkeeping(FedAvg):
    """Sets attributes that do not affect training: a cached property and ones it lists in
    transient_attributes (a private logger among them)."""

    transient_attributes: ClassVar[tuple[str, ...]] = ("round_started", "best_accuracy", "_logger")

    @functools.cached_property
    def label(self) -> str:
        return f"{self.name} run"

    def fit_config(self, server_round: int) -> dict[str, Any]:
        self.round_started = float(server_round)
        self.best_accuracy = 0.5
        self._logger = object()
        return {**super().fit_config(server_round), "label": self.label}


def test_cached_and_transient_attributes_are_not_warned_about() -> None:
    assert run(Bookkeeping()) == []


@dataclass
class PrivateVelocity(FedAvg):
    """Keeps its momentum in a private attribute: lost on resume like a public one."""

    def fit_config(self, server_round: int) -> dict[str, Any]:
        self._velocity = float(server_round)
        return super().fit_config(server_round)


def test_state_in_a_private_attribute_is_named_too() -> None:
    """Names starting with ``_`` were never warned about, so momentum kept in
    ``self._velocity`` was lost on resume without a word (review of 46863a2f)."""
    (message,) = run(PrivateVelocity())
    assert message.startswith("PrivateVelocity set '_velocity' during round 1")


@dataclass
class UnlistedTimer(FedAvg):
    """Sets a timer it does not list as transient."""

    def fit_config(self, server_round: int) -> dict[str, Any]:
        self.round_started = float(server_round)
        return super().fit_config(server_round)


def test_an_unlisted_attribute_warns_that_it_may_change_the_model_and_names_the_opt_out() -> None:
    (message,) = run(UnlistedTimer())
    assert "may end with another model than an uninterrupted run if training depends on it" in (
        message
    )
    assert "transient_attributes: ClassVar[tuple[str, ...]]" in message


@pytest.mark.parametrize("strategy", [FedAvg(), FedAvgM(server_momentum=0.9)])
def test_strategies_whose_state_is_checkpointed_are_not_warned_about(strategy: FedAvg) -> None:
    assert run(strategy) == []


@dataclass(frozen=True)
class Momentum(ServerState):
    momentum: list[np.ndarray]


@dataclass
class UndeclaredState(FedAvg):
    """Sets a ServerState without declaring state_type (a resume could not load it)."""

    def init_state(self, parameters: Parameters) -> Momentum:
        return Momentum([np.zeros(p.shape) for p in parameters])


def test_a_server_state_of_an_undeclared_type_is_refused_by_initialize_before_round_one() -> None:
    with pytest.raises(ConfigError, match=r"state_type is None: declare state_type.*= Momentum"):
        UndeclaredState().initialize(softmax_init(3, 2))


def test_a_simulation_with_an_undeclared_state_type_stops_with_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"state_type is None: declare state_type.*= Momentum"):
        simulate(client_fn, ["0", "1", "2"], UndeclaredState(), softmax_init(3, 2), rounds=1)


@dataclass
class StateSetInAggregateFit(AttributeMomentum):
    """Keeps its momentum in an undeclared ServerState, set only in aggregate_fit."""

    def kept(self) -> Any:
        return None if self.server_state is None else self.server_state.momentum

    def keep(self, momentum: list[np.ndarray]) -> None:
        self.server_state = Momentum(momentum)


def test_a_state_first_set_in_aggregate_fit_is_refused_when_round_one_ends() -> None:
    strategy = StateSetInAggregateFit()
    strategy.initialize(softmax_init(3, 2))  # nothing to refuse yet
    with pytest.raises(ConfigError, match=r"state_type is None.*= Momentum"):
        simulate(client_fn, ["0", "1", "2"], strategy, softmax_init(3, 2), rounds=2)
    assert isinstance(strategy.server_state, Momentum)  # round 1 trained and aggregated
