"""A deployed run's parties over time: who was admitted, and who taken out, when it resumed.

A federation run for weeks changes members: a hospital joins at round 10, another leaves or
is revoked. A deployed horizontal run (``rengo coordinator``) takes a new party list when it
is resumed (``--resume RUN --parties ...`` or an edited ``[deploy] parties``): the run keeps
its id, every completed round and its checkpoint, its recorded ``parties`` become the new
list, and each change is kept beside them under :data:`PARTY_CHANGES`, so the run's record
says who could take part from which round on (``rengo runs show``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

PARTIES = "parties"
"""The config entry holding a deployed run's parties (the hub's allow-list), sorted. For a run
whose parties changed it equals the last :data:`PARTY_CHANGES` entry's ``parties``; it is kept
anyway as the one place every deployed run (most never change) records its parties, which a
resume and the run's model card (``rengo runs card``) read without replaying the history."""
PARTY_CHANGES = "party_changes"
"""The config entry holding each change of a deployed run's parties, oldest first (a list of
:class:`PartyChange` as dicts)."""


@dataclass(frozen=True)
class PartyChange:
    """One change of a deployed run's parties, made when it resumed.

    Attributes
    ----------
    after_round
        The run's last completed round when the change took effect (0: before round 1); the
        new parties take part from the round after it.
    at
        When it took effect (ISO 8601, UTC).
    admitted
        The parties added, sorted.
    removed
        The parties taken out, sorted.
    parties
        The run's parties from then on, sorted.
    """

    after_round: int
    at: str
    admitted: tuple[str, ...]
    removed: tuple[str, ...]
    parties: tuple[str, ...]

    def describe(self) -> str:
        """One line for the console and the run's events."""
        what = [f"admitted {', '.join(self.admitted)}"] if self.admitted else []
        what += [f"removed {', '.join(self.removed)}"] if self.removed else []
        return (
            f"parties changed after round {self.after_round}: {'; '.join(what)} "
            f"(now {len(self.parties)}: {', '.join(self.parties)})"
        )

    def as_record(self) -> dict[str, Any]:
        """The change as the run's config keeps it (JSON)."""
        record = asdict(self)
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in record.items()
        }


def party_change(
    before: Sequence[str], after: Sequence[str], after_round: int, at: datetime
) -> PartyChange | None:
    """The change from parties ``before`` to ``after`` (None when they are the same set)."""
    old, new = set(before), set(after)
    if old == new:
        return None
    return PartyChange(
        after_round=after_round,
        at=at.isoformat(),
        admitted=tuple(sorted(new - old)),
        removed=tuple(sorted(old - new)),
        parties=tuple(sorted(new)),
    )


def recorded_party_changes(config: Mapping[str, Any]) -> list[PartyChange]:
    """The party changes a run's config records, oldest first.

    Parameters
    ----------
    config
        A run's recorded config (:attr:`rengo.tracking.RunInfo.config`).

    Returns
    -------
    list[PartyChange]
        Its changes of parties, oldest first: none for a run that never changed them (or
        not deployed), and entries this release cannot read left out.
    """
    raw = config.get(PARTY_CHANGES)
    if not isinstance(raw, list):
        return []
    changes = []
    for entry in raw:
        try:
            changes.append(
                PartyChange(
                    after_round=int(entry["after_round"]),
                    at=str(entry["at"]),
                    admitted=tuple(str(p) for p in entry["admitted"]),
                    removed=tuple(str(p) for p in entry["removed"]),
                    parties=tuple(str(p) for p in entry["parties"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return changes


def changed_parties(config: Mapping[str, Any]) -> list[str] | None:
    """A run's recorded parties (:data:`PARTIES`) if they were changed while it ran (a
    :data:`PARTY_CHANGES` entry records it), else None: the parties a resume of it continues
    with unless told others (its job's list would take the changes back).

    Parameters
    ----------
    config
        A run's recorded config (:attr:`rengo.tracking.RunInfo.config`).

    Returns
    -------
    list[str] | None
        Its parties now, or None when they never changed (or are not recorded).
    """
    members = config.get(PARTIES)
    if not recorded_party_changes(config) or not isinstance(members, list):
        return None
    return [str(p) for p in members]
