"""Who is online: a deployed run's parties, as its hub sees them, kept current in the store.

The hub knows every connection (joins, leaves with their reason, the last heartbeat); the
run store outlives the process and can be read by a dashboard elsewhere. A
:class:`PresenceRecorder` copies the one into the other on every join and leave (through the
hub's event callback) and every ``interval`` seconds while parties are connected, so
"last heartbeat 1 s ago" stays true without a write per heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

from rengo.tracking.errors import StoreWriteRefused
from rengo.tracking.records import PartyPresence
from rengo.transport.grpc_hub import GrpcHub, HubParty

log = logging.getLogger("rengo.deploy")


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc)


def presence_row(party: HubParty) -> PartyPresence:
    """The store's record of one party as the hub sees it."""
    return PartyPresence(
        party=party.name,
        online=party.connected,
        peer=party.peer,
        joined_at=_moment(party.joined_at),
        last_seen=_moment(party.last_seen),
        left_at=_moment(party.left_at),
        reason=party.reason,
        joins=party.joins,
        bytes_in=party.bytes_in,
        bytes_out=party.bytes_out,
    )


class PresenceRecorder:
    """Writes ``hub``'s parties to ``store`` under ``run_id``: on :meth:`refresh` (call it
    from the hub's event callback) and periodically from the first join until the hub
    closes. Recording never raises into the hub: a failed write is logged and skipped."""

    def __init__(self, hub: GrpcHub, store: Any, run_id: str, interval: float = 2.0) -> None:
        self.hub = hub
        self.store = store
        self.run_id = run_id
        self.interval = interval
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._written: list[HubParty] | None = None

    def refresh(self) -> None:
        """Record every party's current state now (and start the periodic refresh)."""
        parties = self.hub.parties()
        with self._lock:
            if not parties and not self._written:
                return
            try:
                self.store.record_presence(self.run_id, [presence_row(p) for p in parties])
            except StoreWriteRefused as exc:  # the run's own records say it, once
                log.debug("presence of run %s not recorded: %s", self.run_id, exc)
                return
            except Exception:  # never take the hub down over bookkeeping
                log.warning("could not record presence for run %s", self.run_id, exc_info=True)
                return
            self._written = parties
            if self._thread is None and not self.hub.closing:
                self._thread = threading.Thread(
                    target=self._loop, name="rengo-presence", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            if self.hub.closing:  # the hub's last event already recorded everyone offline
                return
            if any(p.connected for p in self.hub.parties()):
                self.refresh()
