"""Is a run's process still there? A ``running`` run whose owner is gone is ``interrupted``.

A run records who runs it - host name and process id - and its lifecycle writes a
heartbeat every :data:`HEARTBEAT_S` seconds while its body runs. A run left ``running`` by a
process that was killed (``kill -9``, a power cut, ``os._exit``) would say ``running``
forever; readers instead ask :func:`owner_gone`: on the owner's own host a process id that
no longer exists settles it at once (not on Windows), anywhere else a heartbeat older than
:data:`STALE_S` does. On the owner's host that age is read on the host's monotonic clock
(recorded beside each heartbeat), so NTP stepping the wall clock forward does not make a
live run read interrupted - and resumable - until its next heartbeat; from another host it
can only be read on the wall clocks, which must then agree to well within :data:`STALE_S`.
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import datetime

HEARTBEAT_S = 5.0
"""Seconds between a running run's heartbeats."""
STALE_S = 120.0
"""A heartbeat older than this means the run's process is gone (hung, killed or on a host
that cannot be asked)."""


def this_host() -> str:
    """This machine's name, as runs record it."""
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (it may belong to another user).

    On Windows this cannot be asked this way, and is answered True (the heartbeat decides,
    in :func:`owner_gone`): there ``os.kill(pid, 0)`` is no probe but signal 0,
    ``CTRL_C_EVENT``, sent to the console's processes."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def owner_gone(
    hostname: str | None,
    pid: int | None,
    heartbeat_at: datetime | None,
    now: datetime,
    stale_after: float = STALE_S,
    steady: tuple[float, float] | None = None,
) -> bool:
    """Whether the process that recorded a ``running`` run is gone.

    Parameters
    ----------
    hostname, pid
        Who owns the run (as recorded when it started or was resumed).
    heartbeat_at
        Its last heartbeat; None for a run recorded before runs had owners.
    now
        The current time (timezone-aware, like the store's timestamps).
    stale_after
        Seconds after which a silent owner counts as gone.
    steady
        ``(beat, now)``: the last heartbeat and the present on the owner's host's
        monotonic clock (``time.monotonic()``, which every process of a host shares), when
        this reader is on that host and the heartbeat recorded it; None: judge by
        ``heartbeat_at`` and ``now``. A step of the wall clock (NTP correcting the time)
        does not age it; a monotonic heartbeat later than now was made before the host
        restarted, so its owner is gone.

    Returns
    -------
    bool
        True when the owner's process no longer exists on this host, or its heartbeat is
        older than ``stale_after`` (or it never had one).
    """
    if heartbeat_at is None:
        return True
    here = hostname == this_host()
    if pid is not None and here and not process_alive(pid):
        return True
    if steady is not None and here:
        beat, present = steady
        return present < beat or present - beat > stale_after
    return (now - heartbeat_at).total_seconds() > stale_after
