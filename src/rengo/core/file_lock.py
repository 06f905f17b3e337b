"""An exclusive lock on a file, shared by every process on the machine, on POSIX and Windows.

POSIX systems lock with ``fcntl.flock``; Windows has no ``fcntl`` (importing it there failed,
and with it the whole ``rengo`` command), so there the first byte of the lock file is locked
with ``msvcrt.locking``. Either lock is released when the holder's file is closed, so a
process that dies holding it does not leave it held.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows (tried on Linux through a stand-in msvcrt)
    import msvcrt

    # typeshed declares msvcrt's names on Windows only
    _locking = msvcrt.locking  # type: ignore[attr-defined, unused-ignore]
    _LOCK, _UNLOCK = msvcrt.LK_LOCK, msvcrt.LK_UNLCK  # type: ignore[attr-defined, unused-ignore]

    def _lock(handle: IO[str]) -> None:
        handle.seek(0)
        while True:
            try:
                _locking(handle.fileno(), _LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after 10 tries a second apart: wait on
                continue

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        _locking(handle.fileno(), _UNLOCK, 1)

else:

    def _lock(handle: IO[str]) -> None:
        fcntl.flock(handle, fcntl.LOCK_EX)

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def exclusive_lock(path: str | Path) -> Iterator[None]:
    """Hold the exclusive lock of the file ``path`` (made if missing) until the block ends;
    another process asking for it waits until then.

    Parameters
    ----------
    path
        The lock file; its contents are never read or written.

    Raises
    ------
    OSError
        If the lock file cannot be opened or made.
    """
    with Path(path).open("a") as handle:
        _lock(handle)
        try:
            yield
        finally:
            _unlock(handle)
