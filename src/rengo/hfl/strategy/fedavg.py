"""FedAvg and FedProx.

FedAvg: McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
Decentralized Data" - the new model is the example-weighted mean of the clients' models.
FedProx: Li et al. 2020, "Federated Optimization in Heterogeneous Networks" - FedAvg whose
clients add (mu / 2) ||w - w_global||^2 to their loss: the coordinator sends ``proximal_mu``
and asks for the ``fedprox`` client mod, which applies the term inside local training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.core.messages import Config
from rengo.core.parameters import Parameters
from rengo.hfl.mods.fedprox import MU_KEY, FedProxMod
from rengo.hfl.strategy.base import Aggregate, Strategy, WeightedSum, cast_like
from rengo.hfl.strategy.registry import register_strategy


@register_strategy
@dataclass
class FedAvg(Strategy):
    """Example-weighted averaging of client models (McMahan et al. 2017).

    Used directly (outside the coordinator, which screens results first) the accumulator
    still refuses what would corrupt the mean: negative or non-finite example counts,
    arrays of another count or shape, NaN or infinity in a weighted update. A client of
    weight 0 contributes nothing, whatever it holds. Integer arrays are averaged and
    rounded to the nearest integer.
    """

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        """The weighted mean of the folded models, accumulated in float64 and rounded once
        to each array's own dtype (integers to the nearest, see :func:`cast_like`)."""
        return [cast_like(m, p) for m, p in zip(acc.mean(), parameters, strict=True)]


@register_strategy
@dataclass
class FedProx(FedAvg):
    """FedAvg with a proximal term ``mu`` applied by clients (Li et al. 2020).

    Parameters
    ----------
    proximal_mu
        The proximal weight mu (sent as the round config's ``proximal_mu``).
    """

    proximal_mu: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.proximal_mu < 0:
            raise ValueError(f"proximal_mu must be >= 0, got {self.proximal_mu}")

    def fit_config(self, server_round: int) -> Config:
        """The round config plus ``proximal_mu``."""
        config = super().fit_config(server_round)
        config[MU_KEY] = float(self.proximal_mu)
        return config

    def client_mods(self) -> tuple[str, ...]:
        """FedProx's clients need the proximal term in their local training."""
        return (*super().client_mods(), FedProxMod.name)
