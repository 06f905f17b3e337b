"""SCAFFOLD: Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled Averaging for
Federated Learning" (Algorithm 1, option II control-variate update).

The coordinator keeps a control variate ``c`` and sends it with the model. Each client keeps
its own ``c_i`` (in :attr:`Client.state`), corrects every local step by ``c - c_i``, and
returns its model ``y_i`` followed by ``delta_c_i = c_i+ - c_i``. The coordinator updates

    x = x + eta_g * mean(y_i - x)
    c = c + (|S| / N) * mean(delta_c_i)

Means are uniform over the sampled clients, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.messages import FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.scaffold_client import CONTROL_KEY
from rengo.hfl.strategy.base import WeightedSum
from rengo.hfl.strategy.fedavg import FedAvg


@dataclass
class Scaffold(FedAvg):
    """SCAFFOLD with global step size ``eta_g`` (1.0 in the paper's experiments)."""

    eta_g: float = 1.0
    _c: list[np.ndarray] | None = field(default=None, init=False, repr=False)
    _num_clients: int = field(default=0, init=False, repr=False)

    def initialize(self, parameters: Parameters) -> None:
        self._c = [np.zeros(p.shape, dtype=np.float32) for p in parameters]

    def configure_fit(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, FitIns]]:
        if self._c is None:
            self.initialize(parameters)
        self._num_clients = len(client_ids)
        chosen = super().configure_fit(server_round, parameters, client_ids, rng)
        for _, ins in chosen:
            ins.config[CONTROL_KEY] = list(self._c or [])
        return chosen

    def result_reference(self, parameters: Parameters) -> Parameters:
        return [*parameters, *parameters]

    def add_result(self, acc: WeightedSum, client_id: str, result: FitResult) -> None:
        acc.add(result.parameters, 1.0, result.metrics)

    def aggregate_fit(
        self, server_round: int, parameters: Parameters, acc: WeightedSum
    ) -> Parameters:
        if self._c is None:
            self.initialize(parameters)
        assert self._c is not None
        n = len(parameters)
        mean = acc.mean()
        y_mean, dc_mean = mean[:n], mean[n:]
        share = acc.count / max(self._num_clients, acc.count)
        self._c = [
            np.asarray(c + share * dc).astype(c.dtype, copy=False)
            for c, dc in zip(self._c, dc_mean, strict=True)
        ]
        return [
            np.asarray(x + self.eta_g * (y - x)).astype(x.dtype, copy=False)
            for x, y in zip(parameters, y_mean, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        return {"c": self._c or [], "num_clients": self._num_clients}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._c = list(state["c"]) or None
        self._num_clients = int(state["num_clients"])
