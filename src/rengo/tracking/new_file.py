"""Put a finished file at a path that must not exist yet, never replacing one that appears.

A finished copy (a store's backup) is hard-linked into place: :func:`os.link` fails if the
path appeared meanwhile, where a rename would replace it. Some file systems have no hard
links (FAT and exFAT on a USB disk, many SMB and FUSE mounts answer ``EPERM``, ``ENOTSUP``
or ``ENOSYS``): there the path is created exclusively (``O_CREAT | O_EXCL``, which also
fails if it exists) and the copy's bytes are written into it and synced.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV})
"""What :func:`os.link` answers where the file system cannot link the file: it is copied."""


def place_new_file(finished: Path, target: Path, mode: int = 0o600) -> None:
    """Make ``target`` hold ``finished``'s bytes without ever replacing a file at ``target``.

    Parameters
    ----------
    finished
        The complete file (left where it is: the caller removes it).
    target
        Where it goes; it must not exist.
    mode
        The permissions of a copy made where the file system has no hard links.

    Raises
    ------
    FileExistsError
        If ``target`` exists (it appeared meanwhile); it is left unchanged.
    OSError
        If ``target`` cannot be made or written (its folder's permissions, a full disk);
        a partial copy is removed.
    """
    try:
        os.link(finished, target)
        return
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in NO_HARD_LINKS:
            raise
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with open(handle, "wb") as written, open(finished, "rb") as source:
            shutil.copyfileobj(source, written)
            written.flush()
            os.fsync(written.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
