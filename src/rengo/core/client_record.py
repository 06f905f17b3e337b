"""One client's part in one phase of one round: the record the round loop writes and the
run store keeps.

It lives in ``core`` because both sides need it and the round loop (``hfl``) sits below
the run store (``tracking``): the loop hands a round's records to the store in one call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClientRecord:
    """One client's part in one phase of one round."""

    round: int
    client_id: str
    phase: str
    status: str
    num_examples: int
    bytes_sent: int
    bytes_received: int
    duration_s: float
    reason: str | None
    metrics: dict[str, Any] | None


def failures_by_phase(failed: Iterable[tuple[str, str]]) -> dict[str, int]:
    """How many clients of one round failed its training (``"fit"``) and how many failed
    only its evaluation (``"evaluate"``), from the ``(client_id, phase)`` of the round's
    failed records.

    The one rule behind "N of M clients reported; failed evaluation ..." (the round's line,
    the progress bar, the mirrors' ``clients/evaluate_failed``, ``rengo runs show`` and the
    dashboard): a client that failed both phases (one dropout draw drops a client from both)
    counts among the training failures only, as ``RoundRecord.evaluation_failures`` leaves
    it out. A phase nobody failed is absent.
    """
    by_phase: dict[str, set[str]] = {}
    for client_id, phase in failed:
        by_phase.setdefault(phase, set()).add(client_id)
    if "evaluate" in by_phase:
        by_phase["evaluate"] -= by_phase.get("fit", set())
    return {phase: len(clients) for phase, clients in by_phase.items() if clients}
