"""SCAFFOLD: Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled Averaging for
Federated Learning" (Algorithm 1, option II control-variate update).

The coordinator keeps a control variate ``c`` and sends it with the model; its clients run
the ``scaffold`` client mod (:mod:`rengo.hfl.mods.scaffold`), which keeps each client's own
``c_i``, corrects every local step by ``c - c_i``, and returns the model ``y_i`` followed by
``delta_c_i = c_i+ - c_i``. The coordinator updates

    x = x + eta_g * mean(y_i - x)
    c = c + (|S| / N) * mean(delta_c_i)

Means are uniform over the sampled clients, as in the paper. ``c`` and N (the clients
available when sampling) are the explicit server state :class:`ScaffoldState`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from rengo.core.messages import FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.mods.scaffold import CONTROL_KEY, ScaffoldMod
from rengo.hfl.strategy.base import Aggregate, ServerState, WeightedSum
from rengo.hfl.strategy.fedavg import FedAvg
from rengo.hfl.strategy.registry import register_strategy


@dataclass(frozen=True)
class ScaffoldState(ServerState):
    """The server control variate ``c`` (float32) and N, the clients available this round."""

    c: list[np.ndarray]
    num_clients: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScaffoldState:
        """Rebuild from a checkpoint."""
        state = super().from_dict(data)
        return cls([np.asarray(a) for a in state.c], int(state.num_clients))


def scaffold_step(
    state: ScaffoldState,
    x: Sequence[np.ndarray],
    y_mean: Sequence[np.ndarray],
    dc_mean: Sequence[np.ndarray],
    num_reported: int,
    eta_g: float,
) -> tuple[Parameters, ScaffoldState]:
    """The server update of Algorithm 1: the new model and control variate."""
    share = num_reported / max(state.num_clients, num_reported)
    c = [
        np.asarray(ci + share * dc).astype(ci.dtype, copy=False)
        for ci, dc in zip(state.c, dc_mean, strict=True)
    ]
    new_x = [
        np.asarray(xi + eta_g * (yi - xi)).astype(xi.dtype, copy=False)
        for xi, yi in zip(x, y_mean, strict=True)
    ]
    return new_x, replace(state, c=c)


@register_strategy
@dataclass
class Scaffold(FedAvg):
    """SCAFFOLD with global step size ``eta_g`` (1.0 in the paper's experiments).

    Parameters
    ----------
    eta_g
        The global step size.
    """

    eta_g: float = 1.0
    state_type: ClassVar[type[ServerState] | None] = ScaffoldState

    def init_state(self, parameters: Parameters) -> ScaffoldState:
        """A zero control variate (float32), no clients seen yet."""
        return ScaffoldState([np.zeros(p.shape, dtype=np.float32) for p in parameters])

    def client_mods(self) -> tuple[str, ...]:
        """SCAFFOLD's clients correct their local steps and report ``delta c_i``."""
        return (*super().client_mods(), ScaffoldMod.name)

    def configure_fit(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, FitIns]]:
        """Sample as FedAvg does; send ``c`` with each model and record N."""
        state: ScaffoldState = self.require_state(parameters)
        self.server_state = state = replace(state, num_clients=len(client_ids))
        chosen = super().configure_fit(server_round, parameters, client_ids, rng)
        for _, ins in chosen:
            ins.config[CONTROL_KEY] = list(state.c)
        return chosen

    def result_reference(self, parameters: Parameters) -> Parameters:
        """Clients return the model followed by ``delta c_i``."""
        return [*parameters, *parameters]

    def add_result(self, acc: WeightedSum, client_id: str, result: FitResult) -> None:
        """Fold uniformly (the paper's means are over clients, not examples)."""
        acc.add(result.parameters, 1.0, result.metrics)

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        """``x += eta_g mean(y - x)`` and ``c += (|S| / N) mean(delta c_i)``."""
        state: ScaffoldState = self.require_state(parameters)
        n = len(parameters)
        mean = acc.mean()
        new, self.server_state = scaffold_step(
            state, parameters, mean[:n], mean[n:], acc.count, self.eta_g
        )
        return new
