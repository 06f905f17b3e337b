"""Masks from a seed: the AES-256-CTR keystream (NIST SP 800-38A, through ``cryptography``) as
a PRG.

Secure aggregation (Bonawitz et al. CCS 2017; Bell et al. CCS 2020, whose implementation
also expands seeds with AES-CTR) expands every 32-byte seed - a pairwise agreed key or a
client's self-mask seed - into a vector uniform in ``Z_{2^bits}``. The keystream under a
fixed initial counter block is a deterministic function of the seed, so both ends of a pair,
or the coordinator after rebuilding a seed, derive the same mask; every seed is a fresh
one-time key, so the fixed counter block never repeats a (key, counter) pair.

Speed: the keystream is written by OpenSSL straight into a numpy buffer (``update_into``,
AES-NI: several GB/s, no intermediate ``bytes``), and :func:`add_masks` folds any number of
signed masks into one vector chunk by chunk through a small reused scratch buffer that stays
in cache, so a client's ``k + 1`` masks cost ``k + 1`` keystreams and in-cache additions -
nothing per element in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED_BYTES = 32
_COUNTER = bytes(16)  # initial counter block; one stream per (one-time) seed
_CHUNK_BYTES = 1 << 18  # fits a core's L2 cache with its scratch


def _word_dtype(bits: int) -> np.dtype[np.unsignedinteger]:
    if not 1 <= bits <= 64:
        raise ValueError(f"bits must lie in 1..64, got {bits}")
    return np.dtype(np.uint32) if bits <= 32 else np.dtype(np.uint64)


def _check_seed(seed: bytes) -> None:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a PRG seed is {SEED_BYTES} bytes, got {len(seed)}")


def _encryptor(seed: bytes) -> Any:
    """AES-256-CTR under ``seed`` from the fixed counter block: its keystream is the PRG's
    output (native-endian words: the keystream is uniform bytes, so any byte order gives
    uniform words)."""
    return Cipher(algorithms.AES(seed), modes.CTR(_COUNTER)).encryptor()


def prg_mask(seed: bytes, size: int, bits: int) -> np.ndarray:
    """``size`` values uniform in ``[0, 2^bits)`` expanded from ``seed``: uint32 for
    ``bits <= 32``, else uint64.

    Parameters
    ----------
    seed
        32 bytes; never reuse one for two masks of the same party.
    size
        Number of values.
    bits
        The modulus' exponent, 1..64 (the low ``bits`` bits of each word are kept: uniform
        because the modulus is a power of two).

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
    _check_seed(seed)
    dtype = _word_dtype(bits)
    values = np.empty(size, dtype=dtype)
    _encryptor(seed).update_into(bytes(values.nbytes), values.data.cast("B"))
    if bits < 8 * dtype.itemsize:
        np.bitwise_and(values, dtype.type((1 << bits) - 1), out=values)
    return values


def add_masks(total: np.ndarray, signed_seeds: Iterable[tuple[bytes, int]]) -> None:
    """Add ``sign * PRG(seed)`` to ``total`` in place for every ``(seed, sign)``, ``sign`` +1
    or -1: the masking (client) and unmasking (coordinator) step of secure aggregation.

    The sum wraps modulo ``2^32`` or ``2^64`` (``total``'s dtype), a multiple of every ring
    ``2^bits`` that dtype holds: reduce with ``& (2^bits - 1)`` once at the end. The words
    added are the full keystream words of ``total``'s width; when that is the width
    :func:`prg_mask` uses for ``bits`` (uint32 up to 32 bits, else uint64), their low ``bits``
    bits are exactly its values, so the result agrees with adding :func:`prg_mask` masks.
    Both ends of a pair must therefore use the same width for the same ring.

    Parameters
    ----------
    total
        A C-contiguous uint32 or uint64 vector, changed in place.
    signed_seeds
        32-byte seeds, each with the sign its mask is added with.

    Raises
    ------
    ValueError
        For a seed that is not 32 bytes, a sign other than +-1, or a ``total`` that is not a
        contiguous uint32/uint64 vector.
    """
    if total.dtype not in (np.dtype(np.uint32), np.dtype(np.uint64)) or not (
        total.flags.c_contiguous and total.ndim == 1
    ):
        raise ValueError(
            f"masks are added to a contiguous uint32/uint64 vector, got {total.dtype} "
            f"of shape {total.shape}"
        )
    streams: list[tuple[Any, int]] = []
    for seed, sign in signed_seeds:
        _check_seed(seed)
        if sign not in (1, -1):
            raise ValueError(f"a mask's sign is +1 or -1, got {sign}")
        streams.append((_encryptor(seed), sign))
    # Chunk by chunk, every stream in turn: the chunk of ``total`` and the scratch stay in
    # cache, so each mask costs its keystream and an in-cache addition, not three passes
    # over memory (CTR keystreams continue exactly across update_into calls).
    step = max(1, _CHUNK_BYTES // total.itemsize)
    scratch = np.empty(min(step, total.size), dtype=total.dtype)
    zeros = memoryview(bytes(scratch.nbytes))
    for start in range(0, total.size, step):
        part = total[start : start + step]
        buffer = scratch[: part.size]
        for encryptor, sign in streams:
            encryptor.update_into(zeros[: buffer.nbytes], buffer.data.cast("B"))
            if sign == 1:
                np.add(part, buffer, out=part)
            else:
                np.subtract(part, buffer, out=part)
