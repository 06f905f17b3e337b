"""q-FedAvg: Li, Sanjabi, Beirami and Smith 2020, "Fair Resource Allocation in Federated
Learning" (ICLR; Algorithm 2).

Each client sends ``delta_k = F_k^q L (w - w_k)`` and ``h_k = q F_k^(q-1) ||L (w - w_k)||^2 +
L F_k^q`` (its half is :class:`~rengo.hfl.mods.QFFLMod`), and the coordinator steps

    w <- w - sum_k delta_k / sum_k h_k

over the round's clients, each counted once (the paper samples clients by data size
instead of weighting them). ``q = 0`` is the unweighted mean of the clients' models; a larger
``q`` moves the model towards the clients whose loss is high.

Each client measures ``F_k`` at the model it received, as the paper has it. Flower 1.42 has
two versions: ``flwr.server.strategy.QFedAvg`` takes one loss for every client, its own
centralised evaluation of the model, so the ``F_k^q`` factors are equal and no client counts
more than another; ``flwr.serverapp.strategy.QFedAvg`` takes each client's ``train_loss``
metric, its loss during local training rather than at the model it received.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rengo.core.messages import Config, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.mods.qffl import LIPSCHITZ_KEY, Q_KEY
from rengo.hfl.strategy.base import Strategy, WeightedSum, cast_like
from rengo.hfl.strategy.registry import register_strategy


def qffl_step(parameters: Parameters, delta_sum: Parameters, h_sum: float) -> Parameters:
    """``w - sum delta_k / sum h_k``, each array in its own dtype.

    Parameters
    ----------
    parameters
        The global model ``w`` the round started from.
    delta_sum
        ``sum_k delta_k`` (or their mean), float64.
    h_sum
        ``sum_k h_k`` (or their mean, alike), > 0.

    Returns
    -------
    list of numpy.ndarray
        The new global model.
    """
    return [
        cast_like(np.asarray(w, np.float64) - d / h_sum, w)
        for w, d in zip(parameters, delta_sum, strict=True)
    ]


@register_strategy
@dataclass
class QFedAvg(Strategy):
    """q-FedAvg: FedAvg that gives clients with a high loss more say (Li et al. 2020).

    Parameters
    ----------
    q_param
        The fairness parameter ``q`` >= 0 (0: the unweighted mean of the clients' models).
    qffl_learning_rate
        One over the paper's Lipschitz estimate ``L``; the paper sets ``L`` to one over the
        clients' local learning rate (Flower's name, and its default 0.1).

    Raises
    ------
    ValueError
        ``q_param`` below 0 or ``qffl_learning_rate`` not above 0.
    """

    q_param: float = 0.2
    qffl_learning_rate: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.q_param) and self.q_param >= 0):
            raise ValueError(f"q_param must be a finite number >= 0, got {self.q_param}")
        if not (math.isfinite(self.qffl_learning_rate) and self.qffl_learning_rate > 0):
            raise ValueError(f"qffl_learning_rate must be > 0, got {self.qffl_learning_rate}")

    def client_mods(self) -> tuple[str, ...]:
        """The client half: :class:`~rengo.hfl.mods.QFFLMod`."""
        return ("qffl",)

    def fit_config(self, server_round: int) -> Config:
        """The user's config plus ``q`` and ``L`` for the clients' mod."""
        return {
            **super().fit_config(server_round),
            Q_KEY: float(self.q_param),
            LIPSCHITZ_KEY: 1.0 / self.qffl_learning_rate,
        }

    def result_reference(self, parameters: Parameters) -> Parameters:
        """Clients return ``delta_k``, an array per model array, followed by ``h_k``."""
        return [*parameters, np.zeros((), np.float64)]

    def result_problem(self, result: FitResult) -> str | None:
        """Refuse an ``h_k`` that is not a finite number > 0: the step divides by the sum
        of them, so one client sending ``-sum`` of the others' would make the step
        unbounded."""
        h = float(np.asarray(result.parameters[-1]))
        if not (math.isfinite(h) and h > 0):
            return f"sent h_k = {h!r}; q-FedAvg's h_k is a finite number > 0"
        return None

    def add_result(self, acc: WeightedSum, client_id: str, result: FitResult) -> None:
        """Fold ``delta_k`` and ``h_k`` once per client, whatever its example count."""
        acc.add(result.parameters, 1.0, result.metrics)

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters:
        """``w - sum delta_k / sum h_k``."""
        mean = acc.mean()
        return qffl_step(parameters, mean[:-1], float(mean[-1]))
