"""FedAvg and FedProx.

FedAvg: McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
Decentralized Data" - the new model is the example-weighted mean of the clients' models.
FedProx: Li et al. 2020, "Federated Optimization in Heterogeneous Networks" - FedAvg whose
clients add (mu / 2) ||w - w_global||^2 to their loss; the coordinator sends ``proximal_mu``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rengo.core.messages import Config
from rengo.core.parameters import Parameters
from rengo.hfl.strategy.base import Strategy, WeightedSum


@dataclass
class FedAvg(Strategy):
    """Example-weighted averaging of client models (McMahan et al. 2017)."""

    def aggregate_fit(
        self, server_round: int, parameters: Parameters, acc: WeightedSum
    ) -> Parameters:
        return [m.astype(p.dtype, copy=False) for m, p in zip(acc.mean(), parameters, strict=True)]


@dataclass
class FedProx(FedAvg):
    """FedAvg with a proximal term ``mu`` applied by clients (Li et al. 2020)."""

    proximal_mu: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.proximal_mu < 0:
            raise ValueError(f"proximal_mu must be >= 0, got {self.proximal_mu}")

    def fit_config(self, server_round: int) -> Config:
        config = super().fit_config(server_round)
        config["proximal_mu"] = float(self.proximal_mu)
        return config
