"""The parties a deployed run found revoked: structured records the hub makes, never text.

When a party presents a certificate on the federation's revocation list (refused at the
handshake, or dropped while connected), the hub reports ``(party, serial)`` once
(:class:`~rengo.transport.GrpcHub` ``on_revoked``) and a deployed coordinator stores it with
the run under :data:`REVOCATIONS` (:meth:`rengo.tracking.RunStore.record_revocation`). The
``parties`` table of ``rengo runs show`` reads these records, not the events: an event's
text can quote what a party said (its own error message), so a party could write a line
that looks like a revocation; it cannot write one of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

REVOCATIONS = "revocations"
"""The config entry holding each revoked certificate a deployed run's hub met, oldest first
(a list of :class:`RevokedParty` as dicts)."""


@dataclass(frozen=True)
class RevokedParty:
    """A party whose revoked certificate a deployed run's hub refused or dropped.

    Attributes
    ----------
    party
        The party the certificate names.
    serial
        The certificate's serial number.
    after_round
        The run's last completed round when the hub met it (0: before round 1).
    at
        When (ISO 8601, UTC).
    """

    party: str
    serial: int
    after_round: int
    at: str

    def describe(self) -> str:
        """One line for the ``parties`` table."""
        # here, not at the top: reading a store (`rengo runs list`) loads no cryptography
        from rengo.transport.revocation import revoked_reason

        return revoked_reason(self.party, self.serial)

    def as_record(self) -> dict[str, Any]:
        """The JSON-ready entry kept in the run's config."""
        return asdict(self)


def recorded_revocations(config: Mapping[str, Any]) -> list[RevokedParty]:
    """The revoked parties a run's config records, oldest first.

    Parameters
    ----------
    config
        A run's recorded config (:attr:`rengo.tracking.RunInfo.config`).

    Returns
    -------
    list[RevokedParty]
        None for a run whose hub met no revoked certificate; entries this release cannot
        read are left out.
    """
    raw = config.get(REVOCATIONS)
    if not isinstance(raw, list):
        return []
    found = []
    for entry in raw:
        try:
            found.append(
                RevokedParty(
                    party=str(entry["party"]),
                    serial=int(entry["serial"]),
                    after_round=int(entry["after_round"]),
                    at=str(entry["at"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return found
