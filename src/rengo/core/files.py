"""Writing files that must never be seen half-written or by anyone but their owner."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: str | Path, data: bytes, mode: int = 0o600) -> None:
    """``data`` to ``path``, readable by its owner only (``mode`` 0600, the default; 0644
    for a public file such as a certificate), all or nothing.

    The bytes go to a new temporary file beside ``path`` (created 0600 under a name of its
    own, so concurrent writers never share one), are flushed to disk, and the file is renamed
    over ``path``; the folder is then flushed too. A crash leaves the old file intact; an
    existing file's mode does not carry over, and a symbolic link at ``path`` is replaced,
    not followed. Where files carry no POSIX modes (Windows), ``mode`` is not applied.
    """
    with replacing_file(path, mode) as out:
        out.write(data)


def write_together(contents: Mapping[Path, bytes], mode: int = 0o600) -> None:
    """Each of ``contents``' files, as :func:`write_atomically` writes one, all or none.

    Every new file is written and flushed to disk beside its path before any is renamed
    into place, so an error while writing them (a full disk, a folder that refuses one)
    leaves every path as it was, and no temporary file behind. Only a failed rename, once
    the files are whole, could leave some renamed and some not.

    Parameters
    ----------
    contents
        Each file's path and its bytes.
    mode
        Their POSIX mode once written (0600 by default).

    Raises
    ------
    OSError
        If a file cannot be written (none was replaced then), or renamed into place: a
        note then names those already replaced.
    """
    staged: list[tuple[Path, Path]] = []  # (temporary, target)
    renamed: list[str] = []
    try:
        for path, data in contents.items():
            target = Path(path)
            with _file_beside(target, mode) as (out, temporary):
                out.write(data)
            staged.append((temporary, target))
        for temporary, target in staged:
            os.replace(temporary, target)
            renamed.append(str(target))
        for folder in {target.parent for _, target in staged}:
            _flush_folder(folder)
    except BaseException as exc:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError) and renamed:
            exc.add_note(f"replaced before the error: {', '.join(renamed)}")
        raise


@contextmanager
def replacing_file(path: str | Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new contents to, as :func:`write_atomically` writes
    them: created 0600 beside ``path``, given ``mode``, flushed to disk and renamed over
    ``path`` when the ``with`` body ends; removed, leaving ``path`` as it was, if it raises.

    For contents written piece by piece (a CSV of a million scored rows), which
    :func:`write_atomically` would need whole in memory first. No one but the owner can read
    the file at any moment, partial or whole, unless ``mode`` says so once it is whole.

    Parameters
    ----------
    path
        The file to replace (or create).
    mode
        Its POSIX mode once written (0600 by default).

    Returns
    -------
    Iterator[BinaryIO]
        The open temporary file, for the ``with`` body to write to.
    """
    target = Path(path)
    with _file_beside(target, mode) as (out, temporary):
        yield out
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _flush_folder(target.parent)


@contextmanager
def _file_beside(target: Path, mode: int) -> Iterator[tuple[BinaryIO, Path]]:
    """A new temporary file beside ``target`` (created 0600, given ``mode``) and its path:
    flushed to disk when the ``with`` body ends, removed if that raises; the caller renames it."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temporary = Path(name)
    try:
        if hasattr(os, "fchmod"):  # not on Windows before Python 3.13 (no POSIX modes there)
            os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            yield out, temporary
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _flush_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (the rename) to disk, where a folder can be opened as a
    file: POSIX; Windows refuses it (PermissionError), and its rename needs no such step."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def readable_by_others(path: str | Path) -> bool:
    """Whether users other than its owner may read the file at ``path`` (its group or
    everyone has the read bit). Always False where files carry no POSIX modes (Windows) or
    the file cannot be looked at."""
    if os.name != "posix":
        return False
    try:
        return bool(Path(path).stat().st_mode & 0o044)
    except OSError:
        return False


def owner_only_note(what: str, path: str | Path) -> str:
    """The warning for a secret file others may read: what it is, its mode, the fix."""
    mode = Path(path).stat().st_mode & 0o777
    return (
        f"{what} {path} can be read by other users of this machine (mode {mode:03o}): "
        f"make it its owner's only with `chmod 600 {path}`"
    )
