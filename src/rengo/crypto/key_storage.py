"""Saving a Paillier private key to disk (never for the wire): JSON with p and q in hex.

The file is written with mode 0600. Loading checks that p and q are distinct primes with
n = p*q, that n has a key size the wire accepts, and recomputes the CRT constants, so a
corrupted file fails loudly instead of decrypting garbage.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from gmpy2 import mpz

from rengo.core.errors import DataError
from rengo.core.files import write_atomically
from rengo.crypto.keys import (
    MAX_WIRE_KEY_BITS,
    MIN_WIRE_KEY_BITS,
    PaillierPrivateKey,
    PaillierPublicKey,
)

FORMAT = "rengo-paillier-private-key/1"
_HEX = re.compile(r"[0-9a-f]+")


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
    """Inverse of :func:`private_key_to_bytes`.

    Raises
    ------
    DataError
        On a bad file: not this format, a number that is not plain lowercase hex, a modulus
        outside the wire's key sizes (``MIN_WIRE_KEY_BITS`` to ``MAX_WIRE_KEY_BITS`` bits), or
        factors that are not two distinct primes whose product is n.
    """
    try:
        record = json.loads(data)
        if record.get("format") != FORMAT:
            raise ValueError(f"unknown format {record.get('format')!r}")
        n, p, q = (_hex(record[k]) for k in ("n", "p", "q"))
        if not MIN_WIRE_KEY_BITS <= n.bit_length() <= MAX_WIRE_KEY_BITS:
            raise ValueError(
                f"a {n.bit_length()}-bit modulus; keys have {MIN_WIRE_KEY_BITS} to "
                f"{MAX_WIRE_KEY_BITS} bits"
            )
        return PaillierPrivateKey(PaillierPublicKey(n), p, q)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DataError(f"not a valid Paillier private key: {exc}") from exc


def _hex(text: object) -> mpz:
    """A number as :func:`private_key_to_bytes` writes it: lowercase hex digits only (no
    sign, prefix, spaces or underscores, which ``int(text, 16)`` would take)."""
    if not isinstance(text, str) or not _HEX.fullmatch(text):
        raise ValueError(f"{text!r} is not a hexadecimal number")
    return mpz(int(text, 16))


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
