"""Which of the hub's repeatable events are recorded, so a party cannot flood the record.

Every join, leave and refused stream is an event the operator sees on the console and in
the run store. An authenticated party can repeat them at will - reconnecting in a loop, or
opening stream after stream past its limit - and each used to be one more console line and
one more row: 30 s of one party reconnecting wrote 19,836 events (3.4 MB) to the store. So
the hub records the first :data:`RECORDED_FREELY` of each kind for each party, then the
100th, the 1,000th and every 10,000th, each saying how many there were; the rest go to the
debug log only.
"""

from __future__ import annotations

import threading
from collections import Counter

RECORDED_FREELY = 20
"""Occurrences of one kind of event for one party recorded before they are thinned."""


def worth_recording(count: int, freely: int = RECORDED_FREELY) -> bool:
    """Whether the ``count``-th (from 1) occurrence of an event is recorded: each of the
    first ``freely``, then the 100th, the 1,000th and every 10,000th."""
    return count <= freely or count in (100, 1000) or count % 10_000 == 0


def repeat_note(count: int, freely: int = RECORDED_FREELY) -> str:
    """What a recorded event past the first ``freely`` adds: how many there were so far."""
    if count <= freely:
        return ""
    return (
        f" (the {count}th time; past the {freely}th only the 100th, 1000th and every "
        "10000th are recorded)"
    )


class RepeatedEvents:
    """Counts each ``(kind, party)`` event; thread-safe (the hub's streams share it)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def count(self, kind: str, who: str) -> int:
        """One more ``kind`` event for ``who``; how many there were, this one included."""
        with self._lock:
            self._counts[(kind, who)] += 1
            return self._counts[(kind, who)]
