"""How a skipped round is marked in its record: one metric both sides read.

A simulation run with ``on_short_round = "skip"`` (:class:`rengo.hfl.Coordinator`) keeps the
model of the round before when too few sampled clients report, and records the round with the
metric :data:`ROUND_SKIPPED` = 1 and no other metric. The round loop (``hfl``) writes it and
the run store (``tracking``: ``rengo runs show``, the MLflow and TensorBoard mirrors, the
rewards notes) reads it, so the name lives here, below both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rengo.core.errors import ConfigError

ROUND_SKIPPED = "round_skipped"
"""Round metric: 1 for a round that fell short of clients and was skipped (the model of the
round before kept, nothing aggregated or released); absent from every round that ran."""

SKIP_CHOICES = ("fail", "skip")
"""The values of ``on_short_round``: ``"fail"`` ends the run (the default), ``"skip"`` keeps
the previous model and goes on."""


def is_skipped(metrics: Mapping[str, float]) -> bool:
    """Whether a round's metrics mark it skipped (:data:`ROUND_SKIPPED` = 1)."""
    return metrics.get(ROUND_SKIPPED) == 1.0


def skipped_rounds(
    series: Mapping[str, Sequence[tuple[int, float]]], through: int | None = None
) -> list[int]:
    """The rounds a run's metric series (:meth:`rengo.tracking.RunStore.round_metrics`) marks
    skipped, in order; only those up to round ``through`` when it is given."""
    return [
        r
        for r, v in series.get(ROUND_SKIPPED, ())
        if v == 1.0 and (through is None or r <= through)
    ]


def check_short_round_settings(on_short_round: object, max_skipped_rounds: object) -> None:
    """Refuse an ``on_short_round`` that is not one of :data:`SKIP_CHOICES`, or a
    ``max_skipped_rounds`` that is not a whole number >= 0 (a bool is not one).

    Raises
    ------
    ConfigError
        Naming the setting and the value given.
    """
    if on_short_round not in SKIP_CHOICES:
        raise ConfigError(
            f"on_short_round must be one of {', '.join(SKIP_CHOICES)}, got {on_short_round!r}"
        )
    if (
        isinstance(max_skipped_rounds, bool)
        or not isinstance(max_skipped_rounds, int)
        or max_skipped_rounds < 0
    ):
        raise ConfigError(f"max_skipped_rounds must be an integer >= 0, got {max_skipped_rounds!r}")
