"""What each party of a deployed run says it trains on, kept with the run.

The coordinator never sees a party's data. A party may report the SHA-256 of each data file
it trains on when it joins (``rengo party --data FILE``, or ``--job``; ``rengo vfl party``
reports its table), see :mod:`rengo.transport.data_report`. The run keeps each party's first
report in its config (``party_data_files``, shown by ``rengo runs show``); a later report
that differs - the party rejoined, or the run was resumed, with other data - is a warning
event naming the party, each file and both digests. The run goes on: a report is the party's
word, which the coordinator cannot check, and only the party's operator can restore its data;
the warning tells both operators, and the record keeps what the run started on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from rengo.tracking.errors import StoreClosedError, StoreWriteRefused
from rengo.tracking.resume_settings import (
    DATA_FILES,
    PARTY_DATA_FILES,
    SHOWN_DIGEST,
    changed_data_files,
)
from rengo.transport.repeated_events import RepeatedEvents, repeat_note, worth_recording

log = logging.getLogger("rengo.deploy")

__all__ = ["PartyDataRecorder", "data_changes"]


class PartyDataRecorder:
    """Keeps each party's data report in ``store`` under ``run_id`` (a hub's
    ``on_data_files``), and says through ``event`` (``(level, message)``, as the hub's
    events) what a party reported first and when a later report differs (thinned as the
    hub's repeatable events: a party may rejoin at will), and when its first report names a
    file of its own another party reported first (see :meth:`_warn_shared`). Reports are
    taken one at a time (two first reports arriving together: the later one names the
    earlier, once). Recording never raises into the hub: a failed write is logged and
    skipped."""

    def __init__(self, store: Any, run_id: str, event: Callable[[str, str], None]) -> None:
        self.store = store
        self.run_id = run_id
        self.event = event
        self._repeats = RepeatedEvents()
        self._one_at_a_time = threading.Lock()

    def __call__(self, party: str, files: dict[str, str]) -> None:
        """Record party ``party``'s report ``files`` (``{path: sha256}``)."""
        with self._one_at_a_time:  # a first report is recorded and compared in one step
            self._take(party, files)

    def _take(self, party: str, files: dict[str, str]) -> None:
        try:
            before = self.store.record_party_data(self.run_id, party, files)
        except (StoreClosedError, StoreWriteRefused) as exc:  # the run's records say it
            log.warning("data report of party %s not recorded: %s", party, exc)
            return
        except Exception:  # never cut a party off over bookkeeping
            log.warning("could not record party %s's data report", party, exc_info=True)
            return
        if before is None:
            shown = "; ".join(
                f"{path} sha256 {digest[:SHOWN_DIGEST]}…" for path, digest in files.items()
            )
            self._say("info", f"party {party} reports training on {shown} (its word)")
            self._warn_shared(party, files)
            return
        changes = data_changes(before, files)
        if not changes:
            return
        count = self._repeats.count("data changed", party)  # a party may rejoin at will
        if not worth_recording(count):
            log.debug("party %s reported changed data again (%d times)", party, count)
            return
        self._say(
            "warning",
            f"party {party}'s data is not what it reported when the run started "
            f"({'; '.join(changes)}): the run goes on with the party's data as it is now "
            "(the report is the party's word); to continue on the rows it started on, "
            f"stop the run and have the party restore its data{repeat_note(count)}",
        )

    def _warn_shared(self, party: str, files: Mapping[str, str]) -> None:
        """Warn once, at ``party``'s first report, of each of its own files another party of
        the run reported first with the same digest: the same data under two names (a
        removed party back under a new name, or a copy), valued and paid twice unless one
        entity. A file the run's job names (its ``data_files``: ``rengo party --job``
        reports them, and the job splits them into clients) is shared by design, never
        compared."""
        try:
            config = self.store.get_run(self.run_id).config
        except Exception:  # never cut a party off over bookkeeping
            log.warning("could not read the run's data reports", exc_info=True)
            return
        job_files = config.get(DATA_FILES)
        shared = set(map(str, job_files.values())) if isinstance(job_files, Mapping) else set()
        owners: dict[str, str] = {}
        for other, report in (config.get(PARTY_DATA_FILES) or {}).items():
            if other != party and isinstance(report, Mapping):
                for digest in report.values():
                    if str(digest) not in shared:
                        owners.setdefault(str(digest), str(other))
        for path, digest in files.items():
            if digest in owners:
                self._say(
                    "warning",
                    f"party {party} reports {path} sha256 {digest[:SHOWN_DIGEST]}…, the data "
                    f"party {owners[digest]} reported: the same data under two names (a party "
                    "back under a new name, or a copy); contribution values and payouts count "
                    "them as two participants unless [contribution] entities names them one",
                )

    def _say(self, level: str, message: str) -> None:
        getattr(log, level)(message)
        try:
            self.event(level, message)
        except Exception:  # recording must never take the hub down
            log.exception("event callback failed")


def data_changes(before: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """How a party's report ``now`` differs from its first one ``before``: each file both
    name whose digest changed (``PATH sha256 BEFORE…, now NOW…``), each it no longer
    reports and each it reports now only, in path order."""
    changed = changed_data_files(before, now)
    changed += [f"{path} no longer reported" for path in sorted(set(before) - set(now))]
    changed += [f"{path} reported only now" for path in sorted(set(now) - set(before))]
    return changed
