"""A forked worker that ends once the process that started it is gone.

A process-executor worker waits on its pipe for work, and would see the parent's death as an
end of file - but its siblings, forked later, hold copies of the parent's ends of the earlier
workers' pipes, so no worker ever saw one. A parent killed outright (SIGKILL after a service
manager's grace period, the OOM killer, a SIGHUP or SIGTERM sent to it alone before rengo
handled them) left its workers running for good: holding memory and GPUs, and holding open
the pipe a supervisor reads the command's output from, so the supervisor waited for ever.
"""

from __future__ import annotations

import os
import signal
import threading
import time

PARENT_POLL_S = 1.0
"""Seconds between two looks at whether the parent is still there."""


def end_with_parent(
    poll_s: float = PARENT_POLL_S, grace_s: float = 0.0, parent: int | None = None
) -> None:
    """From now on, end this process (exit status 1, without clean-up: the parent that would
    collect its results is gone) within ``poll_s`` seconds of its parent ending, even while
    it is busy in a client's code. Call it first thing in a forked worker.

    Parameters
    ----------
    poll_s:
        Seconds between two looks at the parent (a daemon thread of this process looks).
    grace_s:
        With ``grace_s > 0``, the orphan first sends itself SIGINT, so that its main thread
        stops as it would on Ctrl-C (a run records itself interrupted), and exits only if it
        is still there ``grace_s`` seconds later.
    parent:
        The process id the parent had when this process started (None: the parent now), for
        a process that calls this after slow work: one orphaned before the call acts at once.
    """
    if parent is None:
        parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:  # an orphan is adopted: its parent id changes
            time.sleep(poll_s)
        if grace_s > 0:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=watch, name="rengo-parent-watch", daemon=True).start()
