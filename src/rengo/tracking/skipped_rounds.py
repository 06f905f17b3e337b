"""The rounds a run skipped (``on_short_round = "skip"``) and why, as the run store holds them.

A skipped round is a round record whose metrics are
:data:`~rengo.core.skipped_round.ROUND_SKIPPED` = 1, and a warning event of that round that
starts ``round K skipped:`` and says who was sampled, who dropped and what the round needed
(:class:`rengo.hfl.Coordinator` writes both). ``rengo runs show`` (its rounds table and
``--round K``) and ``rengo rewards show`` read them from here.
"""

from __future__ import annotations

from rengo.core.skipped_round import is_skipped
from rengo.tracking.store import RunStore

__all__ = ["skipped_rounds"]


def skipped_rounds(store: RunStore, run_id: str) -> dict[int, str]:
    """Round -> why it was skipped (its warning event; ``"skipped"`` where the event is
    missing), for every round of the run recorded as skipped, in round order; empty for a
    run that skipped none."""
    rounds = [r.round for r in store.rounds(run_id) if is_skipped(r.metrics)]
    if not rounds:
        return {}
    why: dict[int, str] = {}
    for event in store.events(run_id, "warning"):
        if event.round in rounds and event.message.startswith(f"round {event.round} skipped:"):
            why[event.round] = event.message
    return {r: why.get(r, f"round {r} skipped") for r in rounds}
