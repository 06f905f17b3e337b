"""The SHA-256 of a data file's bytes, read in chunks: what a run records of each file it
trained on, so a repeat or a resume on a file changed in place is caught."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rengo.core.errors import DataError

CHUNK_BYTES = 1 << 20
"""Bytes read at a time: a file of any size is hashed in constant memory."""


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of the bytes of the file at ``path``, as 64 hex digits.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        Its digest (``hashlib.sha256(...).hexdigest()``).

    Raises
    ------
    DataError
        If the file cannot be read, naming it and why.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            while chunk := file.read(CHUNK_BYTES):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"cannot read {path} to fingerprint it: {exc.strerror or exc}") from exc
    return digest.hexdigest()
