"""An operator's requests to admit or remove parties of a deployed run while it runs.

A federation run for weeks admits a hospital at round 10 without stopping: the operator, who
is whoever can write the run store, records a request with ``rengo runs parties RUN --admit
NAME`` (or ``--remove NAME``; :meth:`rengo.tracking.RunStore.request_party_change`), and the
running coordinator applies the requests it finds before its next round: the run's
``parties`` become the new list and the change is recorded as a resume records one
(:mod:`rengo.tracking.party_changes`), or, when the coordinator cannot serve the new list
(a quorum or a DP ``delta`` it would break, a revoked certificate), it drops the request and
records why as a warning event. A party has no say: it cannot write the store, and the hub
admits only the names of the run's recorded list.

Requests wait under :data:`PARTY_REQUESTS` in the run's config, oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

PARTY_REQUESTS = "party_requests"
"""The config entry holding a running deployed run's pending party requests, oldest first (a
list of :class:`PartyRequest` as dicts); the coordinator removes each it settles."""


@dataclass(frozen=True)
class PartyRequest:
    """An operator's request to change a running deployed run's parties.

    Attributes
    ----------
    admitted
        The parties to admit, sorted.
    removed
        The parties to take out, sorted.
    at
        When it was made (ISO 8601, UTC).
    """

    admitted: tuple[str, ...]
    removed: tuple[str, ...]
    at: str

    def describe(self) -> str:
        """The request in words: ``admit p4; remove p3``."""
        what = [f"admit {', '.join(self.admitted)}"] if self.admitted else []
        what += [f"remove {', '.join(self.removed)}"] if self.removed else []
        return "; ".join(what)

    def as_record(self) -> dict[str, Any]:
        """The request as the run's config keeps it (JSON)."""
        record = asdict(self)
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in record.items()
        }


def recorded_party_requests(config: Mapping[str, Any]) -> list[PartyRequest]:
    """The party requests a run's config holds, oldest first.

    Parameters
    ----------
    config
        A run's recorded config (:attr:`rengo.tracking.RunInfo.config`).

    Returns
    -------
    list[PartyRequest]
        Its requests not yet settled by the coordinator; entries this release cannot read
        are left out.
    """
    requests = (parse_party_request(entry) for entry in _entries(config))
    return [request for request in requests if request is not None]


def unreadable_party_requests(config: Mapping[str, Any]) -> list[str]:
    """The entries of a run's pending party requests this release cannot read (another
    release's, or a hand edit), each as written (``repr``), oldest first: they are never
    applied nor removed, and the coordinator names them in a warning.

    Parameters
    ----------
    config
        A run's recorded config (:attr:`rengo.tracking.RunInfo.config`).

    Returns
    -------
    list[str]
        The unreadable entries, oldest first.
    """
    return [repr(entry) for entry in _entries(config) if parse_party_request(entry) is None]


def parse_party_request(entry: Any) -> PartyRequest | None:
    """One entry of :data:`PARTY_REQUESTS` as a request, or None if this release cannot
    read it.

    Parameters
    ----------
    entry
        The entry as the run's config holds it.

    Returns
    -------
    PartyRequest | None
        The request, or None.
    """
    try:
        return PartyRequest(
            admitted=tuple(str(p) for p in entry["admitted"]),
            removed=tuple(str(p) for p in entry["removed"]),
            at=str(entry["at"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _entries(config: Mapping[str, Any]) -> list[Any]:
    raw = config.get(PARTY_REQUESTS)
    return raw if isinstance(raw, list) else []


def requested_parties(parties: Sequence[str], requests: Sequence[PartyRequest]) -> list[str]:
    """The parties ``parties`` become once ``requests`` are applied in order, sorted.

    Parameters
    ----------
    parties
        The run's parties now.
    requests
        Requests to apply, oldest first.

    Returns
    -------
    list[str]
        The resulting parties, sorted.
    """
    result = set(parties)
    for request in requests:
        result = (result | set(request.admitted)) - set(request.removed)
    return sorted(result)
