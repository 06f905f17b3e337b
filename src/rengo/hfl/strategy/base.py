"""The strategy interface: how the coordinator samples clients and folds their updates.

A strategy never sees a transport. The round loop calls, in order: :meth:`configure_fit`,
:meth:`accumulator` (then ``add`` once per valid result, streaming), :meth:`aggregate_fit`,
:meth:`evaluate` (centralised) and the federated-evaluation hooks. Server-side state
(optimiser moments, control variates) lives in the strategy and round-trips through
:meth:`state_dict` / :meth:`load_state_dict` for checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.messages import Config, EvaluateIns, EvaluateResult, FitIns, FitResult, Metrics
from rengo.core.parameters import Parameters

EvaluateFn = Callable[[int, Parameters], "tuple[float, Metrics]"]
"""Centralised evaluation on the coordinator's held-out set: ``(round, parameters) ->
(loss, metrics)``."""

ConfigFn = Callable[[int], Config]


class WeightedSum:
    """Streaming weighted sum of parameter lists: memory O(model), not O(clients x model).

    Metrics are folded the same way (example-weighted mean of every numeric metric).
    """

    def __init__(self, reference: Sequence[np.ndarray]) -> None:
        self.sums: list[np.ndarray] = [np.zeros(p.shape, dtype=np.float64) for p in reference]
        self.total_weight = 0.0
        self.count = 0
        self.num_examples = 0
        self._metric_sums: dict[str, float] = {}
        self._metric_weights: dict[str, float] = {}

    def add(self, parameters: Sequence[np.ndarray], weight: float, metrics: Metrics) -> None:
        for acc, p in zip(self.sums, parameters, strict=True):
            if weight == 1.0:
                acc += p
            else:
                acc += weight * np.asarray(p, dtype=np.float64)
        self.total_weight += weight
        self.count += 1
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self._metric_sums[k] = self._metric_sums.get(k, 0.0) + weight * float(v)
                self._metric_weights[k] = self._metric_weights.get(k, 0.0) + weight

    def mean(self) -> list[np.ndarray]:
        if self.total_weight <= 0:
            raise ValueError("no weight accumulated")
        # np.asarray: dividing a 0-d array yields a numpy scalar, which is not a parameter.
        return [np.asarray(s / self.total_weight) for s in self.sums]

    def metrics(self) -> dict[str, float]:
        return {k: self._metric_sums[k] / self._metric_weights[k] for k in self._metric_sums}


@dataclass
class Strategy:
    """Base strategy: client sampling, config, centralised and federated evaluation.

    Subclasses override :meth:`accumulator` / :meth:`aggregate_fit` (and, for protocols that
    return more than the model, :meth:`result_reference`).
    """

    fraction_fit: float = 1.0
    min_fit_clients: int = 2
    fraction_evaluate: float = 0.0
    min_evaluate_clients: int = 2
    min_available_clients: int = 2
    on_fit_config: ConfigFn | None = None
    on_evaluate_config: ConfigFn | None = None
    evaluate_fn: EvaluateFn | None = None
    name: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction_fit <= 1.0:
            raise ValueError(f"fraction_fit must be in (0, 1], got {self.fraction_fit}")
        if not 0.0 <= self.fraction_evaluate <= 1.0:
            raise ValueError(f"fraction_evaluate must be in [0, 1], got {self.fraction_evaluate}")
        if self.min_fit_clients < 1:
            raise ValueError("min_fit_clients must be >= 1")
        self.name = type(self).__name__

    # -- life cycle -------------------------------------------------------------------------
    def initialize(self, parameters: Parameters) -> None:
        """Called once before round 1 with the initial global model."""

    def state_dict(self) -> dict[str, Any]:
        """Server-side state to checkpoint (codec-encodable)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    # -- fit ----------------------------------------------------------------------------------
    def num_fit_clients(self, available: int) -> int:
        return max(math.ceil(self.fraction_fit * available), self.min_fit_clients)

    def fit_config(self, server_round: int) -> Config:
        return dict(self.on_fit_config(server_round)) if self.on_fit_config else {}

    def configure_fit(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, FitIns]]:
        """Sample clients (by fraction, at least ``min_fit_clients``) and give each a FitIns."""
        chosen = sample_clients(client_ids, self.num_fit_clients(len(client_ids)), rng)
        config = self.fit_config(server_round)
        return [(cid, FitIns(parameters, dict(config))) for cid in chosen]

    def result_reference(self, parameters: Parameters) -> Parameters:
        """Arrays a FitResult must match in count and shape (the model, by default)."""
        return parameters

    def accumulator(self, server_round: int, parameters: Parameters) -> WeightedSum:
        return WeightedSum(self.result_reference(parameters))

    def add_result(self, acc: WeightedSum, client_id: str, result: FitResult) -> None:
        """Fold one validated result into the accumulator (weighted by examples)."""
        acc.add(result.parameters, float(result.num_examples), result.metrics)

    def aggregate_fit(
        self, server_round: int, parameters: Parameters, acc: WeightedSum
    ) -> Parameters:
        """The new global model from the accumulated results."""
        raise NotImplementedError

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, Metrics] | None:
        """Centralised evaluation on the coordinator, if an ``evaluate_fn`` was given."""
        return self.evaluate_fn(server_round, parameters) if self.evaluate_fn else None

    def configure_evaluate(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, EvaluateIns]]:
        if self.fraction_evaluate <= 0.0:
            return []
        k = max(math.ceil(self.fraction_evaluate * len(client_ids)), self.min_evaluate_clients)
        config = dict(self.on_evaluate_config(server_round)) if self.on_evaluate_config else {}
        return [
            (cid, EvaluateIns(parameters, dict(config)))
            for cid in sample_clients(client_ids, k, rng)
        ]

    def aggregate_evaluate(
        self, server_round: int, results: Sequence[tuple[str, EvaluateResult]]
    ) -> tuple[float, dict[str, float]]:
        """Example-weighted mean loss and metrics over clients' evaluations."""
        total = sum(r.num_examples for _, r in results)
        if total == 0:
            return float("nan"), {}
        loss = sum(r.loss * r.num_examples for _, r in results) / total
        acc = WeightedSum([])
        for _, r in results:
            acc.add([], float(r.num_examples), r.metrics)
        return loss, acc.metrics()


def sample_clients(client_ids: Sequence[str], k: int, rng: np.random.Generator) -> list[str]:
    """``k`` distinct clients drawn without replacement (all of them, sorted, if k >= n)."""
    ids = sorted(client_ids)
    if k >= len(ids):
        return ids
    picks = rng.choice(len(ids), size=k, replace=False)
    return [ids[i] for i in sorted(picks)]
