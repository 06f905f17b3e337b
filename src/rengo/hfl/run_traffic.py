"""A recorded run's bytes on the wire over every session.

A resumed run's totals go on from what the store holds, and a running run keeps them there
after each round, so a session that ends without finishing (a crash, SIGKILL) loses at most
the traffic of its unfinished round. Each session counts from 0 (a new hub or client pool);
the total is the stored count from before the session plus this session's count, written
after each round and in the summary the run finishes with. Nothing is counted twice: the
stored count is replaced, never added to.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

BYTES_RECEIVED = "bytes_received"
"""The summary entry of the bytes a run's coordinator (or client pool) received."""
BYTES_SENT = "bytes_sent"
"""The summary entry of the bytes a run's coordinator (or client pool) sent."""


class TrafficStore(Protocol):
    """What :class:`RunTraffic` needs of a run store (:class:`rengo.tracking.RunStore`)."""

    def get_run(self, run_id: str) -> Any:
        """The run's record (its ``summary``); LookupError for an unknown run."""
        ...

    def update_summary(self, run_id: str, entries: Mapping[str, Any]) -> None:
        """Set ``entries`` in the running run's stored summary."""
        ...


def recorded_traffic(summary: Mapping[str, Any] | None) -> tuple[int, int]:
    """The bytes received and sent a run's summary records (0 for what it does not)."""
    counts = [(summary or {}).get(key) for key in (BYTES_RECEIVED, BYTES_SENT)]
    received, sent = (c if isinstance(c, int) and not isinstance(c, bool) else 0 for c in counts)
    return received, sent


@dataclass(frozen=True)
class RunTraffic:
    """A recorded run's traffic: the sessions before this one, and where to keep the total.

    Attributes
    ----------
    store
        The run store (None: nothing is recorded).
    run_id
        The run (None: nothing is recorded).
    earlier
        Bytes received and sent by the run's earlier sessions.
    """

    store: TrafficStore | None
    run_id: str | None
    earlier: tuple[int, int] = (0, 0)

    @classmethod
    def resumed(
        cls, store: TrafficStore | None, run_id: str | None, resume: str | None
    ) -> RunTraffic:
        """The traffic of run ``run_id``, going on from what the store holds for the run
        ``resume`` continues ((0, 0) for a new run or one the store does not know)."""
        earlier = (0, 0)
        if store is not None and resume is not None:
            with suppress(LookupError):
                earlier = recorded_traffic(store.get_run(resume).summary)
        return cls(store, run_id, earlier)

    def totals(self, received: int, sent: int) -> dict[str, int]:
        """The run's summary entries for this session's ``received`` and ``sent`` bytes."""
        return {BYTES_RECEIVED: self.earlier[0] + received, BYTES_SENT: self.earlier[1] + sent}

    def keep(self, received: int, sent: int) -> None:
        """Keep the run's totals so far in the store (after a round)."""
        if self.store is not None and self.run_id is not None:
            self.store.update_summary(self.run_id, self.totals(received, sent))
