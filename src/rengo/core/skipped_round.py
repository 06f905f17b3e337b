"""How a skipped round is marked in its record: one metric both sides read.

A simulation run with ``on_short_round = "skip"`` (:class:`rengo.hfl.Coordinator`) keeps the
model of the round before when too few sampled clients report, and records the round with the
metric :data:`ROUND_SKIPPED` = 1 and no other metric. The round loop (``hfl``) writes it and
the run store (``tracking``: ``rengo runs show``, the MLflow and TensorBoard mirrors, the
rewards notes) reads it, so the name lives here, below both.
"""

from __future__ import annotations

from collections.abc import Mapping

ROUND_SKIPPED = "round_skipped"
"""Round metric: 1 for a round that fell short of clients and was skipped (the model of the
round before kept, nothing aggregated or released); absent from every round that ran."""

SKIP_CHOICES = ("fail", "skip")
"""The values of ``on_short_round``: ``"fail"`` ends the run (the default), ``"skip"`` keeps
the previous model and goes on."""


def is_skipped(metrics: Mapping[str, float]) -> bool:
    """Whether a round's metrics mark it skipped (:data:`ROUND_SKIPPED` = 1)."""
    return metrics.get(ROUND_SKIPPED) == 1.0
