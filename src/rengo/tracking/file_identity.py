"""Which file a path names (its device and inode), so that a run store held open for hours
notices when its file was replaced (a backup restored over it, ``mv``) or deleted: SQLite
keeps writing through its open descriptor, into a file no path names any more."""

from __future__ import annotations

import os
from pathlib import Path

from rengo.tracking.errors import StoreReplacedError

FileIdentity = tuple[int, int]
"""A file's ``(st_dev, st_ino)``."""


def file_identity(path: Path) -> FileIdentity | None:
    """The identity of the file at ``path``, or None where there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def replaced_store_error(path: Path, now: FileIdentity | None) -> StoreReplacedError:
    """The error for a store whose file at ``path`` is no longer the one this process opened
    (``now`` is the identity of the file there now, None where there is none)."""
    what = (
        "was deleted or moved away"
        if now is None
        else "was replaced by another file (a backup restored over it, a file moved onto it)"
    )
    return StoreReplacedError(
        f"run store {path} {what} since this process opened it; nothing more is read or "
        "written through this handle, so nothing goes into a file no path names. What it "
        "wrote before is in the file it opened (moved or deleted with it). Open the store "
        "again to use the file at that path now"
    )
