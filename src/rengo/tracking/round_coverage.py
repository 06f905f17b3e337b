"""Whose metrics a round's client figures hold: the clients that reported, those that did
not and why, and the rounds that never completed.

A round's client records are written as its clients answer; a round cut short - the run
interrupted or failed inside it, or still running it - leaves the records of the clients
that answered before, and no round record. Shown as "the last round reported", those few
clients' figures read as the round's. :func:`round_coverage` tells the completed rounds'
records from the others and, per round and phase, who reported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from rengo.tracking.records import ClientRecord


@dataclass(frozen=True)
class PhaseCoverage:
    """One phase (``"fit"``, ``"evaluate"``) of one round: the clients with a result and
    those that failed, each with its reason."""

    round: int
    phase: str
    reported: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def asked(self) -> int:
        """Clients the phase heard from or about."""
        return len(self.reported) + len(self.failed)


@dataclass(frozen=True)
class RoundCoverage:
    """A run's client records split by whether their round completed (see
    :func:`round_coverage`)."""

    completed: list[ClientRecord]
    cut_short: list[PhaseCoverage]


def phase_coverage(records: Iterable[ClientRecord]) -> dict[tuple[int, str], PhaseCoverage]:
    """Per ``(round, phase)``, who reported and who failed (the latest record of a client
    counts)."""
    latest: dict[tuple[int, str], dict[str, ClientRecord]] = {}
    for record in records:
        latest.setdefault((record.round, record.phase), {})[record.client_id] = record
    return {
        key: PhaseCoverage(
            key[0],
            key[1],
            tuple(sorted(c for c, r in by_client.items() if r.status == "ok")),
            {c: r.reason or r.status for c, r in sorted(by_client.items()) if r.status != "ok"},
        )
        for key, by_client in sorted(latest.items())
    }


def round_coverage(
    records: Iterable[ClientRecord], completed_rounds: Collection[int]
) -> RoundCoverage:
    """Split a run's client records into those of ``completed_rounds`` (rounds with a round
    record) and, for every other round, who it heard from before it was cut short.

    Parameters
    ----------
    records
        A run's client records (:meth:`rengo.tracking.RunStore.client_records`).
    completed_rounds
        The rounds the run recorded as complete (:meth:`rengo.tracking.RunStore.rounds`).

    Returns
    -------
    RoundCoverage
        The completed rounds' records, in their order, and the cut-short rounds' phases.
    """
    done = set(completed_rounds)
    kept: list[ClientRecord] = []
    others: list[ClientRecord] = []
    for record in records:
        (kept if record.round in done else others).append(record)
    return RoundCoverage(kept, list(phase_coverage(others).values()))
