"""Saving a Paillier private key to disk (never for the wire): JSON with p and q in hex.

The file is written with mode 0600. Loading recomputes and checks n = p*q and the CRT
constants, so a corrupted file fails loudly instead of decrypting garbage.
"""

from __future__ import annotations

import json
from pathlib import Path

from gmpy2 import mpz

from rengo.core.errors import DataError
from rengo.core.files import write_atomically
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey

FORMAT = "rengo-paillier-private-key/1"


def private_key_to_bytes(key: PaillierPrivateKey) -> bytes:
    """The private key as UTF-8 JSON (format tag, n, p and q in hex)."""
    record = {
        "format": FORMAT,
        "n": format(int(key.public_key.n), "x"),
        "p": format(int(key.p), "x"),
        "q": format(int(key.q), "x"),
    }
    return json.dumps(record).encode()


def private_key_from_bytes(data: bytes) -> PaillierPrivateKey:
    """Inverse of :func:`private_key_to_bytes`; raises :class:`DataError` on a bad file."""
    try:
        record = json.loads(data)
        if record.get("format") != FORMAT:
            raise ValueError(f"unknown format {record.get('format')!r}")
        n, p, q = (mpz(int(record[k], 16)) for k in ("n", "p", "q"))
        return PaillierPrivateKey(PaillierPublicKey(n), p, q)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DataError(f"not a valid Paillier private key: {exc}") from exc


def save_private_key(key: PaillierPrivateKey, path: str | Path) -> None:
    """Write the key to ``path``, readable by its owner only (mode 0600).

    The key goes to a new 0600 file beside ``path`` that is then renamed over it, so an
    existing file's wider mode does not carry over and a symbolic link at ``path`` is
    replaced, not followed.
    """
    write_atomically(path, private_key_to_bytes(key))


def load_private_key(path: str | Path) -> PaillierPrivateKey:
    """Read a key written by :func:`save_private_key`."""
    return private_key_from_bytes(Path(path).read_bytes())
