"""Run a mirror's call for at most a given time, so a mirror that hangs never holds a run.

An MLflow client whose server is down retries with back-off for minutes per call (about four
minutes measured with MLflow 3.18, see ``benchmarks/mirror_down.py``); a TensorBoard folder on a
hung network disk blocks as long. The call runs on a daemon thread and the run stops waiting
after ``seconds``: the call may still finish (or fail) in the background, and
:attr:`BoundedCaller.busy` says so, so nothing else is sent to that mirror meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class MirrorTimeout(TimeoutError):
    """A mirror's call did not end in time (it may still be running in the background)."""


class BoundedCaller:
    """Runs one mirror's calls, each for at most ``seconds``, one at a time.

    Parameters
    ----------
    seconds
        How long the caller waits for one call (> 0).
    """

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"a mirror's time limit must be > 0 seconds, got {seconds!r}")
        self.seconds = float(seconds)
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """Whether a call that ran past its time is still running."""
        return self._thread is not None and self._thread.is_alive()

    def call(self, work: Callable[[], object]) -> None:
        """Run ``work`` and wait for it at most :attr:`seconds`.

        Raises
        ------
        MirrorTimeout
            It did not end in time, or an earlier call is still running.
        Exception
            Whatever ``work`` raised.
        """
        if self.busy:
            raise MirrorTimeout("an earlier call to this mirror is still running")
        raised: list[BaseException] = []

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # handed to the waiting thread
                raised.append(exc)

        thread = threading.Thread(target=run, name="rengo-mirror", daemon=True)
        self._thread = thread
        thread.start()
        thread.join(self.seconds)
        if thread.is_alive():
            raise MirrorTimeout(f"no answer within {self.seconds:g} s")
        if raised:
            raise raised[0]
