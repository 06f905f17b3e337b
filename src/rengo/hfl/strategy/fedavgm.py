"""FedAvgM: FedAvg with server momentum.

Hsu, Qi, Brown 2019, "Measuring the Effects of Non-Identical Data Distribution for Federated
Visual Classification" (arXiv:1909.06335). The server treats the change the clients' mean
would make as a gradient and steps along its momentum:

    g = x - mean(x_i)                (the pseudo-gradient: minus FedAvg's step)
    m = beta * m + g                 (m starts at 0, so the first round's m is g)
    x = x - eta * m

With ``server_momentum = 0`` and ``server_learning_rate = 1`` it is FedAvg. The same update
as Flower's ``FedAvgM`` (``server_learning_rate``, ``server_momentum``; no Nesterov step).
The momentum is the explicit server state :class:`FedAvgMState`, made by ``init_state`` and
replaced each round by :func:`fedavgm_step`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rengo.core.parameters import Parameters
from rengo.hfl.strategy.base import Aggregate, ServerState, WeightedSum
from rengo.hfl.strategy.fedavg import FedAvg
from rengo.hfl.strategy.registry import register_strategy


@dataclass(frozen=True)
class FedAvgMState(ServerState):
    """The server's momentum ``m``, one float64 array per parameter."""

    momentum: list[np.ndarray]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FedAvgMState:
        """Rebuild from a checkpoint (arrays as float64)."""
        state = super().from_dict(data)
        return cls([np.asarray(a, dtype=np.float64) for a in state.momentum])


def fedavgm_step(
    state: FedAvgMState,
    x: Sequence[np.ndarray],
    mean: Sequence[np.ndarray],
    learning_rate: float,
    momentum: float,
) -> tuple[Parameters, FedAvgMState]:
    """One server step: the new model (each array in ``x``'s dtype) and momentum.

    Parameters
    ----------
    state
        The momentum before this round.
    x
        The global model the round started from.
    mean
        The example-weighted mean of the clients' models (float64).
    learning_rate, momentum
        ``eta`` and ``beta``.

    Returns
    -------
    tuple
        ``x - eta * m`` and the new momentum ``m = beta * m + (x - mean)``.
    """
    new_x: Parameters = []
    m_out: list[np.ndarray] = []
    for xi, avg, m in zip(x, mean, state.momentum, strict=True):
        # np.asarray keeps 0-d parameters (BatchNorm counters) arrays, not numpy scalars.
        m = np.asarray(momentum * m + (np.asarray(xi, np.float64) - avg))
        new_x.append(np.asarray(xi - learning_rate * m).astype(xi.dtype, copy=False))
        m_out.append(m)
    return new_x, FedAvgMState(m_out)


@register_strategy
@dataclass
class FedAvgM(FedAvg):
    """FedAvg with server momentum: ``m = beta m + (x - mean)``, ``x -= eta m`` (Hsu et al.
    2019).

    Parameters
    ----------
    server_learning_rate
        The server step size ``eta`` (1.0 with no momentum is FedAvg).
    server_momentum
        The momentum ``beta``, in [0, 1).

    Raises
    ------
    ValueError
        A learning rate that is not positive, or a momentum outside [0, 1).
    """

    server_learning_rate: float = 1.0
    server_momentum: float = 0.9
    state_type: ClassVar[type[ServerState] | None] = FedAvgMState

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.server_learning_rate > 0:
            raise ValueError(f"server_learning_rate must be > 0, got {self.server_learning_rate}")
        if not 0.0 <= self.server_momentum < 1.0:
            raise ValueError(f"server_momentum must be in [0, 1), got {self.server_momentum}")

    def init_state(self, parameters: Parameters) -> FedAvgMState:
        """Zero momentum."""
        return FedAvgMState([np.zeros(p.shape, dtype=np.float64) for p in parameters])

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        """One momentum step from the weighted mean of the clients' models."""
        state = self.require_state(parameters)
        new, self.server_state = fedavgm_step(
            state, parameters, acc.mean(), self.server_learning_rate, self.server_momentum
        )
        return new
