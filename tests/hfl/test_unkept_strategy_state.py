"""A strategy that keeps something across rounds outside ``server_state`` (the Flower habit,
``self.momentum = ...`` in ``aggregate_fit``) is told, in the first round, that checkpoints
do not hold it and a resumed run would lose it; one that keeps its state in a ServerState is
not."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

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
        old: Any = getattr(self, "momentum", None)
        self.momentum = (
            grad if old is None else [0.9 * v + g for v, g in zip(old, grad, strict=True)]
        )
        return [np.asarray(x - v) for x, v in zip(parameters, self.momentum, strict=True)]


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


def test_a_server_state_of_an_undeclared_type_is_refused_before_round_one_trains() -> None:
    with pytest.raises(TypeError, match=r"state_type is None: declare state_type.*= Momentum"):
        simulate(client_fn, ["0", "1", "2"], UndeclaredState(), softmax_init(3, 2), rounds=1)
