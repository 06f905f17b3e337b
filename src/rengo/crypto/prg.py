"""Masks from a seed: ChaCha20's keystream (RFC 8439, through ``cryptography``) as a PRG.

Secure aggregation (Bonawitz et al. CCS 2017; Bell et al. CCS 2020) expands every 32-byte
seed - a pairwise agreed key or a client's self-mask seed - into a vector uniform in
``Z_{2^bits}``. The keystream under a fixed nonce is a deterministic function of the seed, so
both ends of a pair, or the coordinator after rebuilding a seed, derive the same mask.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

SEED_BYTES = 32
_NONCE = bytes(16)  # cryptography's ChaCha20 takes counter || nonce; one stream per seed


def prg_mask(seed: bytes, size: int, bits: int) -> np.ndarray:
    """``size`` values uniform in ``[0, 2^bits)`` expanded from ``seed``: uint32 for
    ``bits <= 32`` (half the keystream), else uint64.

    Parameters
    ----------
    seed
        32 bytes; never reuse one for two masks of the same party.
    size
        Number of values.
    bits
        The modulus' exponent, 1..64 (the low ``bits`` bits of each 64-bit word are kept:
        uniform because the modulus is a power of two).

    Returns
    -------
    numpy.ndarray
        uint32 (``bits <= 32``) or uint64 array of length ``size``; arithmetic in that
        dtype wraps modulo ``2^32`` / ``2^64``, a multiple of ``2^bits``.

    Raises
    ------
    ValueError
        For a seed that is not 32 bytes or ``bits`` outside 1..64.
    """
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a PRG seed is {SEED_BYTES} bytes, got {len(seed)}")
    if not 1 <= bits <= 64:
        raise ValueError(f"bits must lie in 1..64, got {bits}")
    dtype = np.dtype("<u4") if bits <= 32 else np.dtype("<u8")
    encryptor = Cipher(algorithms.ChaCha20(seed, _NONCE), mode=None).encryptor()
    stream = bytearray(encryptor.update(bytes(dtype.itemsize * size)))
    values: np.ndarray = np.frombuffer(stream, dtype=dtype)  # writeable: over the bytearray
    if bits < 8 * dtype.itemsize:
        np.bitwise_and(values, dtype.type((1 << bits) - 1), out=values)
    return values.astype(dtype.newbyteorder("="), copy=False)
