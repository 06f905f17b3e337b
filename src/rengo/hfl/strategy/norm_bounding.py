"""Norm bounding: Sun, Kairouz, Suresh, McMahan 2019, "Can You Really Backdoor Federated
Learning?" - every update is clipped to L2 norm ``max_norm`` before FedAvg's weighted mean:

    w <- w + sum_i n_i clip(delta_i, M) / sum_i n_i

A boosted (model-replacement) or scaled update loses its scale; the fold stays streaming
(memory O(model)), so the defence costs what FedAvg costs. It needs a bound of the size of an
honest update; for a bound that tracks the updates, use :class:`CentredClipping`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rengo.core.messages import FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.strategy.base import Aggregate, Strategy, WeightedSum
from rengo.hfl.strategy.registry import register_strategy
from rengo.privacy import clip_by_l2_norm


class _DeltaSum(WeightedSum):
    """A weighted sum of clipped updates, with the model they are relative to."""

    def __init__(self, reference: Sequence[np.ndarray]) -> None:
        super().__init__(reference)
        self.global_model = [np.asarray(p, dtype=np.float64) for p in reference]
        self.clipped = 0


@register_strategy
@dataclass
class NormBoundedAvg(Strategy):
    """FedAvg of updates clipped to L2 norm ``max_norm`` (Sun et al. 2019's norm bounding).

    Parameters
    ----------
    max_norm
        The bound ``M`` on each client's update.
    """

    max_norm: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.max_norm > 0:
            raise ValueError(f"max_norm must be > 0, got {self.max_norm}")

    def accumulator(self, server_round: int, parameters: Parameters) -> _DeltaSum:
        """A streaming sum of clipped updates relative to ``parameters``."""
        return _DeltaSum(parameters)

    def add_result(self, acc: WeightedSum, client_id: str, result: FitResult) -> None:
        """Clip the client's update to ``max_norm`` and fold it (weighted by examples)."""
        assert isinstance(acc, _DeltaSum)
        deltas = [
            np.asarray(p, np.float64) - g
            for p, g in zip(result.parameters, acc.global_model, strict=True)
        ]
        clipped, norm = clip_by_l2_norm(deltas, self.max_norm)
        acc.clipped += int(norm > self.max_norm)
        acc.add(clipped, float(result.num_examples), result.metrics)

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        """The model plus the weighted mean of the clipped updates."""
        assert isinstance(acc, _DeltaSum)
        new = [
            np.asarray(g + d).astype(p.dtype, copy=False)
            for g, d, p in zip(acc.global_model, acc.mean(), parameters, strict=True)
        ]
        return Aggregate(new, {"clipped_updates": float(acc.clipped)})
