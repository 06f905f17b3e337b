"""Put a finished file at a path that must not exist yet, never replacing one that appears.

A finished copy (a store's backup) is hard-linked into place: :func:`os.link` fails if the
path appeared meanwhile, where a rename would replace it. Some file systems have no hard
links (FAT and exFAT on a USB disk, many SMB and FUSE mounts: :func:`os.link` answers one
of :data:`NO_HARD_LINKS`). There, on Linux, the file is renamed into place with
``renameat2(RENAME_NOREPLACE)``, which also fails if the path exists, so the path never
holds part of a file. Where that rename is missing (another OS, a C library older than
glibc 2.28, a file system that refuses the flag) the path is created exclusively
(``O_CREAT | O_EXCL``) and the bytes are copied into it and synced: a copy cut off by a
kill -9 or a power loss can leave a truncated file under that name.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
from pathlib import Path

NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV})
"""What :func:`os.link` answers where the file system cannot link the file: it is copied."""

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_NO_RENAME_NOREPLACE = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})
"""What ``renameat2`` answers where the kernel or the file system lacks the flag."""


def rename_no_replace(source: Path, target: Path) -> bool:
    """Rename ``source`` to ``target`` unless ``target`` exists, in one step (Linux).

    Parameters
    ----------
    source
        The file to move.
    target
        Its new path, in the same file system.

    Returns
    -------
    bool
        True once renamed; False where this OS, C library or file system has no
        no-replace rename (nothing was done).

    Raises
    ------
    FileExistsError
        If ``target`` exists; both files are left unchanged.
    OSError
        If the rename fails for another reason (permissions, another file system).
    """
    if not sys.platform.startswith("linux"):
        return False
    rename = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if rename is None:  # a C library older than glibc 2.28
        return False
    paths = (os.fsencode(source), os.fsencode(target))
    if rename(_AT_FDCWD, paths[0], _AT_FDCWD, paths[1], _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_RENAME_NOREPLACE:
        return False
    raise OSError(code, os.strerror(code), str(source), None, str(target))


def place_new_file(finished: Path, target: Path, mode: int = 0o600) -> None:
    """Make ``target`` hold ``finished``'s bytes without ever replacing a file at ``target``.

    Parameters
    ----------
    finished
        The complete file, in ``target``'s folder. It is hard-linked, or renamed where the
        file system has no hard links (:func:`rename_no_replace`); where neither works it
        is copied and left where it is. The caller removes it if it is still there.
    target
        Where it goes; it must not exist.
    mode
        The permissions of a copy made where neither a link nor a no-replace rename works.

    Raises
    ------
    FileExistsError
        If ``target`` exists (it appeared meanwhile); it is left unchanged.
    OSError
        If ``target`` cannot be made or written (its folder's permissions, a full disk);
        a partial copy is removed (a process killed mid-copy cannot remove it).
    """
    try:
        os.link(finished, target)
        return
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in NO_HARD_LINKS:
            raise
    if rename_no_replace(finished, target):
        return
    handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with open(handle, "wb") as written, open(finished, "rb") as source:
            shutil.copyfileobj(source, written)
            written.flush()
            os.fsync(written.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
