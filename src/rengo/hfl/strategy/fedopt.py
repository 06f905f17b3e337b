"""Adaptive server optimisers: FedAdagrad, FedAdam, FedYogi.

Reddi et al. 2021, "Adaptive Federated Optimization" (Algorithm 2). The averaged client
change is a pseudo-gradient ``delta = mean(x_i) - x``; the server keeps moments ``m``, ``v``:

    m = beta1 * m + (1 - beta1) * delta
    v = v + delta^2                                   (Adagrad)
    v = beta2 * v + (1 - beta2) * delta^2             (Adam)
    v = v - (1 - beta2) * delta^2 * sign(v - delta^2) (Yogi)
    x = x + eta * m / (sqrt(v) + tau)

The moments are the explicit server state :class:`FedOptState`, made by ``init_state`` and
replaced each round by :func:`fedopt_step`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rengo.core.parameters import Parameters
from rengo.hfl.strategy.base import Aggregate, ServerState, WeightedSum
from rengo.hfl.strategy.fedavg import FedAvg
from rengo.hfl.strategy.registry import register_strategy

SecondMoment = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FedOptState(ServerState):
    """The server optimiser's first and second moments, one float64 array per parameter."""

    m: list[np.ndarray]
    v: list[np.ndarray]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FedOptState:
        """Rebuild from a checkpoint (arrays as float64)."""
        state = super().from_dict(data)
        return cls(
            [np.asarray(a, dtype=np.float64) for a in state.m],
            [np.asarray(a, dtype=np.float64) for a in state.v],
        )


def fedopt_step(
    state: FedOptState,
    x: Sequence[np.ndarray],
    mean: Sequence[np.ndarray],
    second_moment: SecondMoment,
    eta: float,
    beta_1: float,
    tau: float,
) -> tuple[Parameters, FedOptState]:
    """One server step of Algorithm 2: the new model (each array in ``x``'s dtype) and moments."""
    new_x: Parameters = []
    m_out: list[np.ndarray] = []
    v_out: list[np.ndarray] = []
    for xi, avg, m, v in zip(x, mean, state.m, state.v, strict=True):
        delta = avg - xi
        # np.asarray keeps 0-d parameters (BatchNorm counters) arrays, not numpy scalars.
        m = np.asarray(beta_1 * m + (1.0 - beta_1) * delta)
        v = np.asarray(second_moment(v, delta))
        step = eta * m / (np.sqrt(v) + tau)
        new_x.append(np.asarray(xi + step).astype(xi.dtype, copy=False))
        m_out.append(m)
        v_out.append(v)
    return new_x, FedOptState(m_out, v_out)


@dataclass
class FedOpt(FedAvg):
    """Shared machinery of the adaptive server optimisers; use a concrete subclass.

    Parameters
    ----------
    eta
        Server learning rate.
    beta_1, beta_2
        Moment decay rates.
    tau
        Adaptivity (the denominator's floor; ``v`` starts at ``tau^2``).
    """

    eta: float = 1e-1
    beta_1: float = 0.9
    beta_2: float = 0.99
    tau: float = 1e-3
    state_type: ClassVar[type[ServerState] | None] = FedOptState

    def init_state(self, parameters: Parameters) -> FedOptState:
        """Zero first moments; second moments at ``initial_v()``."""
        return FedOptState(
            [np.zeros(p.shape, dtype=np.float64) for p in parameters],
            [np.full(p.shape, self.initial_v(), dtype=np.float64) for p in parameters],
        )

    def initial_v(self) -> float:
        """The second moment's starting value (``tau^2``)."""
        return self.tau**2

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """The optimiser's second-moment update."""
        raise NotImplementedError

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        """One adaptive server step from the weighted mean of the clients' models."""
        state = self.require_state(parameters)
        new, self.server_state = fedopt_step(
            state, parameters, acc.mean(), self.second_moment, self.eta, self.beta_1, self.tau
        )
        return new


@register_strategy
@dataclass
class FedAdagrad(FedOpt):
    """Server Adagrad: ``v += delta^2`` (Reddi et al. 2021)."""

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """``v + delta^2``."""
        return np.asarray(v + delta**2)


@register_strategy
@dataclass
class FedAdam(FedOpt):
    """Server Adam: ``v = beta2 v + (1 - beta2) delta^2`` (Reddi et al. 2021)."""

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """``beta2 v + (1 - beta2) delta^2``."""
        return np.asarray(self.beta_2 * v + (1.0 - self.beta_2) * delta**2)


@register_strategy
@dataclass
class FedYogi(FedOpt):
    """Server Yogi: ``v -= (1 - beta2) delta^2 sign(v - delta^2)`` (Reddi et al. 2021)."""

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """``v - (1 - beta2) delta^2 sign(v - delta^2)``."""
        d2 = delta**2
        return np.asarray(v - (1.0 - self.beta_2) * d2 * np.sign(v - d2))
