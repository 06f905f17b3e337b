"""One-time-pad masks on Paillier plaintexts, so that the key holder decrypts only noise.

A party adds a mask r drawn uniformly from Z_n to each encrypted value and re-randomises the
ciphertext; the key holder decrypts ``v + r mod n``, which is uniform on Z_n whatever v is
(perfect hiding), and returns that residue; the party subtracts r and decodes. This is the
"stronger than FATE" rule of rengo's coordinated hetero LR: the coordinator never sees an
unmasked gradient, loss or score. Masked ciphertexts are freshly randomised, so they may be
sent (see :mod:`rengo.crypto.encrypted_array`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gmpy2 import mpz

from rengo.core.errors import ProtocolError
from rengo.crypto.encrypted_array import EncryptedArray
from rengo.crypto.fixed_point import from_residues, integers_to_floats
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.parallel import map_chunks
from rengo.crypto.randomness import RandomSource


@dataclass(frozen=True)
class Mask:
    """The residues a party added (secret to it) and the exponent to decode the result at."""

    residues: np.ndarray
    exponent: int


def mask_encrypted(
    encrypted: EncryptedArray, rng: RandomSource, pool: ObfuscatorPool
) -> tuple[EncryptedArray, Mask]:
    """``Enc(v + r)`` with r uniform in Z_n and fresh randomness, plus the secret mask.

    Parameters
    ----------
    encrypted
        The values to have decrypted by the key holder.
    rng
        Source of the masks (the OS CSPRNG in protocols: ``random_source(None)``).
    pool
        Obfuscators for the re-randomisation, under ``encrypted``'s key.

    Returns
    -------
    tuple of EncryptedArray and Mask
        The masked, fresh ciphertexts (send them) and the mask (keep it).

    Raises
    ------
    KeyMismatchError
        If the pool belongs to another key.
    """
    key = encrypted.public_key
    key.require_same(pool.public_key, "obfuscators")
    flat = encrypted.ciphertexts.ravel()
    residues = _objects([rng.randbelow(key.n) for _ in range(len(flat))])
    fresh = pool.take(len(flat))
    masked = flat * (1 + residues * key.n) % key.nsquare * fresh % key.nsquare
    return (
        EncryptedArray(key, masked.reshape(encrypted.shape), encrypted.exponent, fresh=True),
        Mask(residues.reshape(encrypted.shape), encrypted.exponent),
    )


def decrypt_masked(
    encrypted: EncryptedArray, private_key: PaillierPrivateKey, workers: int | None = None
) -> bytes:
    """The key holder's side: raw residues ``v + r mod n`` as fixed-width big-endian bytes.

    The residues are not decoded: decoding a uniform residue means nothing, and sending the
    full residue keeps the unmasking exact."""
    private_key.require_matches(encrypted.public_key)
    residues = map_chunks(private_key.raw_decrypt_array, encrypted.ciphertexts.ravel(), workers)
    return residues_to_bytes(residues, private_key.public_key)


def unmask(masked_residues: bytes, mask: Mask, public_key: PaillierPublicKey) -> np.ndarray:
    """The party's side: ``(v + r) - r mod n`` decoded to floats at the mask's exponent."""
    shape = mask.residues.shape
    received = residues_from_bytes(masked_residues, public_key, int(np.prod(shape, dtype=int)))
    plain = (received - mask.residues.ravel()) % public_key.n
    return integers_to_floats(from_residues(plain, public_key), mask.exponent).reshape(shape)


def residues_to_bytes(residues: np.ndarray, public_key: PaillierPublicKey) -> bytes:
    """Residues in [0, n) as one buffer of fixed-width big-endian integers."""
    width = (public_key.bits + 7) // 8
    return b"".join(mpz(r).to_bytes(width, "big") for r in residues.ravel().tolist())


def residues_from_bytes(data: bytes, public_key: PaillierPublicKey, count: int) -> np.ndarray:
    """Inverse of :func:`residues_to_bytes`; a wrong length or a value >= n is a protocol
    error."""
    width = (public_key.bits + 7) // 8
    if not isinstance(data, bytes) or len(data) != count * width:
        raise ProtocolError(f"expected {count} residues of {width} bytes")
    values = [mpz.from_bytes(data[s : s + width], "big") for s in range(0, len(data), width)]
    if any(v >= public_key.n for v in values):
        raise ProtocolError("a returned residue is not below n")
    return _objects(values)


def _objects(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out
