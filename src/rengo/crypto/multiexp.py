"""``Enc(d)^T X`` for vertical LR gradients by bucketed multi-exponentiation.

Each output column is ``prod_i c_i ** x_ij (mod n^2)`` with short fixed-point exponents
(about 20 bits for standardised features at 16 fractional bits). Computing each power on its
own costs one modexp per element; Pippenger's bucket method (N. Pippenger, "On the
evaluation of powers and related problems", FOCS 1976; the form used here is the windowed
bucket sum from Bernstein et al., "Faster batch forgery identification", INDOCRYPT 2012)
needs about ``bits / window`` modular multiplications per element instead, and negative
exponents cost one inversion per column instead of one per element.
"""

from __future__ import annotations

import gmpy2
import numpy as np
from gmpy2 import mpz

from rengo.crypto import EncryptedArray

DEFAULT_FEATURE_PRECISION_BITS = 16
"""Fractional bits of plaintext features in ``Enc(d)^T X`` (rounding error 2**-17)."""


def _window_bits(count: int, bits: int) -> int:
    """A window size that roughly balances bucket filling (count) against bucket summing."""
    best, best_cost = 1, None
    for w in range(1, 13):
        windows = -(-bits // w)
        cost = windows * (count + (2 << w))
        if best_cost is None or cost < best_cost:
            best, best_cost = w, cost
    return best


def _bucket_power_product(
    bases: list[mpz], exponents: np.ndarray, nsquare: mpz, window: int
) -> mpz:
    """``prod_i bases[i] ** exponents[i] mod n^2`` for non-negative int64 exponents."""
    if not bases:
        return mpz(1)
    top = int(exponents.max())
    if top == 0:
        return mpz(1)
    windows = -(-top.bit_length() // window)
    mask = (1 << window) - 1
    result = mpz(1)
    for k in range(windows - 1, -1, -1):
        if k != windows - 1:
            result = gmpy2.powmod(result, 1 << window, nsquare)
        digits = (exponents >> (k * window)) & mask
        buckets: list[mpz | None] = [None] * (mask + 1)
        for base, digit in zip(bases, digits.tolist(), strict=True):
            if digit:
                held = buckets[digit]
                buckets[digit] = base if held is None else held * base % nsquare
        running, total = mpz(1), mpz(1)
        for digit in range(mask, 0, -1):
            held = buckets[digit]
            if held is not None:
                running = running * held % nsquare
            total = total * running % nsquare
        result = result * total % nsquare
    return result


def _column(bases: list[mpz], column: np.ndarray, nsquare: mpz, window: int) -> mpz:
    """One output ciphertext ``prod_i c_i ** e_i`` for signed int64 exponents ``column``."""
    positive = column > 0
    negative = column < 0
    pos = _bucket_power_product(
        [b for b, keep in zip(bases, positive.tolist(), strict=True) if keep],
        column[positive],
        nsquare,
        window,
    )
    if not negative.any():
        return pos
    neg = _bucket_power_product(
        [b for b, keep in zip(bases, negative.tolist(), strict=True) if keep],
        -column[negative],
        nsquare,
        window,
    )
    return pos * gmpy2.invert(neg, nsquare) % nsquare


def encrypted_matmul(
    encrypted: EncryptedArray,
    matrix: np.ndarray,
    precision_bits: int = DEFAULT_FEATURE_PRECISION_BITS,
) -> EncryptedArray:
    """``encrypted @ matrix`` for a 1-D encrypted vector (N,) and a plaintext (N, D) matrix.

    The result holds D ciphertexts at exponent ``encrypted.exponent + precision_bits``.
    Features must fit 62 bits after scaling (``|x| < 2**(62 - precision_bits)``).
    """
    plain = np.asarray(matrix, dtype=np.float64)
    if encrypted.ndim != 1 or plain.ndim != 2 or plain.shape[0] != encrypted.shape[0]:
        raise ValueError(f"encrypted_matmul shapes {encrypted.shape} and {plain.shape} mismatch")
    if plain.size and not np.isfinite(plain).all():
        raise ValueError("features must be finite")
    scaled = np.rint(np.ldexp(plain, precision_bits))
    if scaled.size and np.abs(scaled).max() >= 2.0**62:
        raise ValueError(f"features too large for {precision_bits} fractional bits")
    exps = scaled.astype(np.int64)
    nsquare = encrypted.public_key.nsquare
    bases = list(encrypted.ciphertexts.tolist())
    top = int(np.abs(exps).max()) if exps.size else 0
    window = _window_bits(len(bases), max(1, top.bit_length()))

    # One column at a time in this thread: the work is many small multiplications, which
    # hold the GIL, so threads would not help; the roles' obfuscator threads run meanwhile.
    columns = [
        _column(bases, np.ascontiguousarray(exps[:, j]), nsquare, window)
        for j in range(plain.shape[1])
    ]
    out = np.empty(len(columns), dtype=object)
    out[:] = columns
    return EncryptedArray(encrypted.public_key, out, encrypted.exponent + precision_bits)
