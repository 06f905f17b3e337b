"""Calls due a grace period from now, all from one thread that lives only while some wait.

The hub tells a stream to stop and, should the stream's writer be blocked (its peer stopped
reading), cancels it a few seconds later. That used to be one timer thread per stopped
stream: a party reconnecting in a loop kept as many threads (and the sessions they held)
alive as it made connections in those seconds. A :class:`GraceCalls` holds the due calls in
a heap and runs them from a single thread, started when a call is queued and ended when none
is left.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("rengo.transport")


class GraceCalls:
    """Runs each queued call once its grace has passed, from one daemon thread.

    A call that raises is logged and the rest still run. Thread-safe.
    """

    def __init__(self, name: str = "rengo-grace") -> None:
        self.name = name
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # equal deadlines keep their queueing order
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_later(self, seconds: float, call: Callable[[], None]) -> None:
        """Run ``call()`` ``seconds`` from now (it decides then whether it is still needed)."""
        with self._lock:
            heapq.heappush(self._due, (time.monotonic() + seconds, next(self._order), call))
            self._lock.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def pending(self) -> int:
        """How many calls wait for their time."""
        with self._lock:
            return len(self._due)

    def _run(self) -> None:
        with self._lock:
            while self._due:
                deadline, _, call = self._due[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._due)
                self._lock.release()
                try:
                    call()
                except Exception:  # one call's failure must not strand the others
                    log.exception("a call after its grace period failed")
                finally:
                    self._lock.acquire()
            self._thread = None
