"""Homomorphic segment sums and differences of Paillier ciphertexts.

``Enc(a) * Enc(b) = Enc(a + b) (mod n^2)``: the sum of the plaintexts of every ciphertext in
a segment is the product of the segment's ciphertexts. :func:`encrypted_segment_sums`
computes every segment's product at once by pairwise halving (each pass multiplies
neighbours of the same segment, vectorised over all segments), so the work is one modular
multiplication per input ciphertext. :func:`encrypted_differences` subtracts with a
modular inverse: ``Enc(a) * Enc(b)^-1 = Enc(a - b)``. Neither result is freshly randomised
(see :mod:`rengo.crypto.encrypted_array`): re-randomise before sending.
"""

from __future__ import annotations

import gmpy2
import numpy as np

from rengo.crypto.keys import PaillierPublicKey

_invert = np.frompyfunc(gmpy2.invert, 2, 1)


def encrypted_segment_sums(
    ciphertexts: np.ndarray,
    segments: np.ndarray,
    n_segments: int,
    public_key: PaillierPublicKey,
) -> np.ndarray:
    """Per segment, the ciphertext of the sum of its members' plaintexts.

    Parameters
    ----------
    ciphertexts
        Object array, rows x columns (or one column), of ciphertexts under ``public_key``.
    segments
        The segment of each row, integers in ``[0, n_segments)``.
    n_segments
        How many segments there are (empty ones get ``1``, an unrandomised ``Enc(0)``).
    public_key
        The key of the ciphertexts.

    Returns
    -------
    numpy.ndarray
        ``n_segments`` x columns object array (1-D if ``ciphertexts`` is).
    """
    values = np.asarray(ciphertexts, dtype=object)
    flat = values.ndim == 1
    table = values[:, None] if flat else values
    seg = np.asarray(segments, dtype=np.int64)
    if seg.shape != (len(table),):
        raise ValueError(f"{len(seg)} segment labels for {len(table)} rows")
    if len(seg) and (seg.min() < 0 or seg.max() >= n_segments):
        raise ValueError("a segment label lies outside [0, n_segments)")
    out = np.empty((n_segments, table.shape[1]), dtype=object)
    out[:] = gmpy2.mpz(1)
    if len(seg):
        order = np.argsort(seg, kind="stable")
        seg, table = seg[order], table[order]
        nsquare = public_key.nsquare
        while True:
            starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
            run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(seg)]))
            position = np.arange(len(seg)) - starts[run]
            has_partner = np.r_[seg[1:] == seg[:-1], False]
            paired = (position % 2 == 0) & has_partner
            if not paired.any():
                break
            keep = position % 2 == 0
            left = np.flatnonzero(paired)
            table[left] = table[left] * table[left + 1] % nsquare
            seg, table = seg[keep], table[keep]
        out[seg] = table
    return out[:, 0] if flat else out


def encrypted_differences(
    minuend: np.ndarray, subtrahend: np.ndarray, public_key: PaillierPublicKey
) -> np.ndarray:
    """Elementwise ``Enc(a - b)`` from ``Enc(a)`` and ``Enc(b)`` (same shape)."""
    nsquare = public_key.nsquare
    inverse = _invert(np.asarray(subtrahend, dtype=object), nsquare)
    return np.asarray(np.asarray(minuend, dtype=object) * inverse % nsquare)
