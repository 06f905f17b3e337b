"""Paillier public keys and ciphertext arrays on the wire, through :mod:`rengo.core.codec`.

Ciphertexts travel as one bytes buffer of fixed-width big-endian integers (width = byte length
of n^2); a public key travels as n. Encoding refuses ciphertexts that are not freshly
randomised (see :mod:`rengo.crypto.encrypted_array`): safe by default. Decoding checks every
field and every ciphertext (``0 < c < n^2``) before building an object, which is not fresh:
the receiver cannot vouch for its randomness. Private keys are never registered here: see
:mod:`rengo.crypto.key_storage` for saving them to disk.

Each type is registered with the codec where its class is defined (the public key in
:mod:`rengo.crypto.keys`, arrays in :mod:`rengo.crypto.encrypted_array`, packed vectors in
:mod:`rengo.crypto.packing`), from the checks in :mod:`rengo.crypto.wire_fields`, so a
process that holds or receives one needs no other import first; this module keeps the byte
format's public names.
"""

from __future__ import annotations

from rengo.crypto import encrypted_array, keys, packing  # noqa: F401  (each registers its type)
from rengo.crypto.wire_fields import (
    MAX_WIRE_EXPONENT,
    ciphertexts_from_bytes,
    ciphertexts_to_bytes,
)

__all__ = ["MAX_WIRE_EXPONENT", "ciphertexts_from_bytes", "ciphertexts_to_bytes"]
