"""Notice the moment a run store changes, so open pages update without reloading.

SQLite's ``PRAGMA data_version`` changes whenever another connection commits; one thread
polls it on its own read-only connection a few times a second and bumps :attr:`version`.
Each server-sent event stream only compares integers, so a hundred open pages cost one
query per poll, and a coordinator writing the store is never blocked. A run whose process
dies without a word commits nothing, yet from then on reads ``interrupted``: the watcher
also compares which runs read ``running`` (every :data:`LIVENESS_EVERY` polls) and counts a
change there as a change of the store.
"""

from __future__ import annotations

import logging
import os
import threading

from rengo.tracking import RunStore

log = logging.getLogger("rengo.ui")

LIVENESS_EVERY = 4
"""Polls between two reads of which runs read ``running`` (once a second by default)."""


class ChangeWatcher:
    """Counts the commits other processes make to the store at ``path`` (lazily started)."""

    def __init__(self, path: str | os.PathLike[str], interval_s: float = 0.25) -> None:
        self.path = path
        self.interval_s = interval_s
        self.version = 0
        self.running: frozenset[str] | None = None
        """The runs that read ``running`` at the last liveness check (None before the first)."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin polling (idempotent)."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._poll, name="rengo-ui-changes", daemon=True
                )
                self._thread.start()

    def _poll(self) -> None:
        try:
            store = RunStore(self.path, read_only=True)
        except Exception:
            log.exception("cannot watch %s for changes; pages will not update live", self.path)
            return
        with store:
            last = store.data_version()
            self.running = store.running_run_ids()
            ticks = 0
            while not self._stop.wait(self.interval_s):
                ticks += 1
                try:
                    current = store.data_version()
                    running = store.running_run_ids() if ticks % LIVENESS_EVERY == 0 else None
                except Exception:  # a transient lock or I/O error: try again next tick
                    log.debug("data_version poll failed", exc_info=True)
                    continue
                changed = current != last
                if running is not None and running != self.running:
                    self.running, changed = running, True
                if changed:
                    last = current
                    self.version += 1

    def close(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
