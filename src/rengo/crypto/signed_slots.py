"""Signed integers side by side in one Paillier plaintext, added homomorphically.

A row of integers ``v_0 .. v_{s-1}`` becomes the one (signed) integer
``M = sum_k v_k * 2**(k * width)``; encrypted, Paillier adds such integers slot by slot, and
multiplying a ciphertext by ``2**(j * width * s)`` moves its slots up, so several packed rows
can be shifted into one plaintext (:func:`combine_ciphertexts`). Unlike the offset packing
of :mod:`rengo.crypto.packing`, slots are signed and need no per-term offset: decoding
reads the lowest slot as a signed ``width``-bit number, subtracts it and shifts, so any sum
whose every slot stays in ``[-2**(width-1), 2**(width-1))`` decodes exactly, however many
terms were added and whatever their signs. The whole integer is a signed plaintext: it
must stay below ``n // 3`` in magnitude (:func:`capacity` leaves that room), negative ones
are residues ``n - |M|`` as for :mod:`rengo.crypto.fixed_point`.

Used by SecureBoost to carry a row's gradient and hessian in one ciphertext and to send
several histogram bins per ciphertext (Cheng et al. 2021; FATE's "gh packing").
"""

from __future__ import annotations

import gmpy2
import numpy as np

from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.parallel import map_chunks

_powmod = np.frompyfunc(gmpy2.powmod, 3, 1)


def capacity(public_key: PaillierPublicKey, width: int) -> int:
    """Slots of ``width`` bits one plaintext of ``public_key`` holds (room for the sign and
    the ``n // 3`` bound of signed plaintexts is left)."""
    if width < 2:
        raise ValueError(f"a signed slot needs at least 2 bits, got {width}")
    return max(0, (public_key.bits - 2) // width)


def pack_signed(values: np.ndarray, width: int) -> np.ndarray:
    """One signed Python int per row of ``values`` (rows x slots, integers), slot 0 lowest.

    Raises
    ------
    OverflowError
        If a value does not fit a signed ``width``-bit slot.
    """
    table = np.asarray(values)
    if table.ndim != 2:
        raise ValueError(f"pack_signed needs rows x slots, got shape {table.shape}")
    limit = 1 << (width - 1)
    if table.size:
        low, high = int(table.min()), int(table.max())
        if low < -limit or high >= limit:
            raise OverflowError(f"a value does not fit a signed {width}-bit slot")
    packed = np.empty(len(table), dtype=object)
    packed[:] = [0] * len(table)
    for k in range(table.shape[1] - 1, -1, -1):
        column = np.empty(len(table), dtype=object)
        column[:] = [int(v) for v in table[:, k].tolist()]
        packed = (packed << width) + column
    return packed


def unpack_signed(packed: np.ndarray, width: int, slots: int) -> np.ndarray:
    """Inverse of :func:`pack_signed` after any sums: rows x ``slots`` Python ints.

    Every slot of every packed integer must lie in ``[-2**(width-1), 2**(width-1))``.
    """
    half, full = 1 << (width - 1), 1 << width
    mask = full - 1
    out = np.empty((len(packed), slots), dtype=object)
    for i, value in enumerate(packed.tolist()):
        rest = int(value)
        for k in range(slots):
            slot = ((rest + half) & mask) - half
            out[i, k] = slot
            rest = (rest - slot) >> width
        if rest != 0:
            raise OverflowError("a packed value has bits beyond its slots (overflow)")
    return out


def combine_ciphertexts(
    ciphertexts: np.ndarray,
    per_plaintext: int,
    shift_bits: int,
    public_key: PaillierPublicKey,
    *,
    workers: int | None = None,
) -> np.ndarray:
    """Ciphertexts of ``sum_j m_j * 2**(j * shift_bits)`` for consecutive groups of
    ``per_plaintext`` input ciphertexts ``Enc(m_j)`` (the last group may be shorter).

    Horner's rule: one exponentiation by ``2**shift_bits`` (``shift_bits`` squarings) and
    one multiplication per input. The results are not freshly randomised: re-randomise
    them before they leave the party.
    """
    if per_plaintext < 1:
        raise ValueError("per_plaintext must be >= 1")
    flat = np.asarray(ciphertexts, dtype=object).ravel()
    groups = -(-len(flat) // per_plaintext)
    padded = np.empty(groups * per_plaintext, dtype=object)
    padded[:] = [gmpy2.mpz(1)] * len(padded)  # Enc(0) with no randomness: re-randomised later
    padded[: len(flat)] = flat
    table = padded.reshape(groups, per_plaintext)
    nsquare, shift = public_key.nsquare, gmpy2.mpz(1) << shift_bits
    acc = table[:, -1].copy()
    for j in range(per_plaintext - 2, -1, -1):
        acc = map_chunks(lambda c: _powmod(c, shift, nsquare), acc, workers=workers)
        acc = acc * table[:, j] % nsquare
    return np.asarray(acc)
