"""One client's part in one phase of one round: the record the round loop writes and the
run store keeps.

It lives in ``core`` because both sides need it and the round loop (``hfl``) sits below
the run store (``tracking``): the loop hands a round's records to the store in one call.
"""

from __future__ import annotations

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
