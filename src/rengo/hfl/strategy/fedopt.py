"""Adaptive server optimisers: FedAdagrad, FedAdam, FedYogi.

Reddi et al. 2021, "Adaptive Federated Optimization" (Algorithm 2). The averaged client
change is a pseudo-gradient ``delta = mean(x_i) - x``; the server keeps moments ``m``, ``v``:

    m = beta1 * m + (1 - beta1) * delta
    v = v + delta^2                                   (Adagrad)
    v = beta2 * v + (1 - beta2) * delta^2             (Adam)
    v = v - (1 - beta2) * delta^2 * sign(v - delta^2) (Yogi)
    x = x + eta * m / (sqrt(v) + tau)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.parameters import Parameters
from rengo.hfl.strategy.base import WeightedSum
from rengo.hfl.strategy.fedavg import FedAvg


@dataclass
class FedOpt(FedAvg):
    """Shared machinery of the adaptive server optimisers; use a concrete subclass."""

    eta: float = 1e-1
    beta_1: float = 0.9
    beta_2: float = 0.99
    tau: float = 1e-3
    _m: list[np.ndarray] | None = field(default=None, init=False, repr=False)
    _v: list[np.ndarray] | None = field(default=None, init=False, repr=False)

    def initialize(self, parameters: Parameters) -> None:
        self._m = [np.zeros(p.shape, dtype=np.float64) for p in parameters]
        self._v = [np.full(p.shape, self.initial_v(), dtype=np.float64) for p in parameters]

    def initial_v(self) -> float:
        return self.tau**2

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def aggregate_fit(
        self, server_round: int, parameters: Parameters, acc: WeightedSum
    ) -> Parameters:
        if self._m is None or self._v is None:
            self.initialize(parameters)
        assert self._m is not None and self._v is not None
        new: Parameters = []
        for i, (x, avg) in enumerate(zip(parameters, acc.mean(), strict=True)):
            delta = avg - x
            # np.asarray keeps 0-d parameters (BatchNorm counters) arrays, not numpy scalars.
            self._m[i] = np.asarray(self.beta_1 * self._m[i] + (1.0 - self.beta_1) * delta)
            self._v[i] = np.asarray(self.second_moment(self._v[i], delta))
            step = self.eta * self._m[i] / (np.sqrt(self._v[i]) + self.tau)
            new.append(np.asarray(x + step).astype(x.dtype, copy=False))
        return new

    def state_dict(self) -> dict[str, Any]:
        return {"m": self._m or [], "v": self._v or []}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._m = [np.asarray(a, dtype=np.float64) for a in state["m"]] or None
        self._v = [np.asarray(a, dtype=np.float64) for a in state["v"]] or None


@dataclass
class FedAdagrad(FedOpt):
    """Server Adagrad: ``v += delta^2`` (Reddi et al. 2021)."""

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return v + delta**2


@dataclass
class FedAdam(FedOpt):
    """Server Adam: ``v = beta2 v + (1 - beta2) delta^2`` (Reddi et al. 2021)."""

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return self.beta_2 * v + (1.0 - self.beta_2) * delta**2


@dataclass
class FedYogi(FedOpt):
    """Server Yogi: ``v -= (1 - beta2) delta^2 sign(v - delta^2)`` (Reddi et al. 2021)."""

    def second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        d2 = delta**2
        return v - (1.0 - self.beta_2) * d2 * np.sign(v - d2)
