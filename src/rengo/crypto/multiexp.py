"""Products of powers ``prod_i c_i ** e_ij (mod n^2)`` by bucketed multi-exponentiation.

This is the work inside ``Enc(d)^T X`` (vertical LR gradients) and every encrypted-vector
times plaintext-matrix product: each output column is ``prod_i c_i ** x_ij (mod n^2)`` with
short fixed-point exponents (about 20 bits for standardised features at 16 fractional bits).
Computing each power on its own costs one modexp per element; Pippenger's bucket method (N.
Pippenger, "On the evaluation of powers and related problems", FOCS 1976; the form used here
is the windowed bucket sum from Bernstein et al., "Faster batch forgery identification",
INDOCRYPT 2012) needs about ``bits / window`` modular multiplications per element instead,
and negative exponents cost one inversion per column instead of one per element.

Columns with few distinct values (categorical or binned features, an intercept column of
ones) are first grouped: bases that share an exponent are multiplied together (one
multiplication each) and the bucket method runs on one product per distinct value,
``prod_v (prod_{i: e_i = v} c_i) ** v``. Same result, about ``1`` instead of ``bits / window``
multiplications per element where the column takes few values.
"""

from __future__ import annotations

import gmpy2
import numpy as np
from gmpy2 import mpz


def window_bits(count: int, bits: int) -> int:
    """A window size that roughly balances bucket filling (count) against bucket summing."""
    best, best_cost = 1, -1
    for w in range(1, 13):
        windows = -(-bits // w)
        cost = windows * (count + (2 << w))
        if best_cost < 0 or cost < best_cost:
            best, best_cost = w, cost
    return best


def bucket_cost(count: int, bits: int, window: int) -> int:
    """Modular multiplications of the bucket method for ``count`` bases with exponents of
    ``bits`` bits: per window one per base plus two per bucket."""
    return -(-bits // window) * (count + (2 << window))


def group_equal_exponents(
    bases: list[mpz], exponents: np.ndarray, modulus: mpz
) -> tuple[list[mpz], np.ndarray]:
    """``(products, values)``: for each distinct exponent v (sorted), the product mod
    ``modulus`` of the bases with exponent v; ``prod_v products[v] ** v`` equals
    ``prod_i bases[i] ** exponents[i]``."""
    values, inverse = np.unique(exponents, return_inverse=True)
    groups: list[mpz | None] = [None] * len(values)
    for base, group in zip(bases, inverse.ravel().tolist(), strict=True):
        held = groups[group]
        groups[group] = base if held is None else held * base % modulus
    return [mpz(1) if g is None else g for g in groups], values


def _bucket_power_product(
    bases: list[mpz], exponents: np.ndarray, modulus: mpz, window: int
) -> mpz:
    """``prod_i bases[i] ** exponents[i] mod modulus`` for non-negative exponents (int64 or
    Python ints in an object array); bases sharing an exponent are grouped first when that
    costs fewer multiplications."""
    if not bases:
        return mpz(1)
    top = int(exponents.max())
    if top == 0:
        return mpz(1)
    distinct = len(np.unique(exponents)) if len(bases) > 1 else 1
    if distinct < len(bases):
        bits = top.bit_length()
        grouped_window = window_bits(distinct, bits)
        grouped = len(bases) - distinct + bucket_cost(distinct, bits, grouped_window)
        if grouped < bucket_cost(len(bases), bits, window):
            bases, exponents = group_equal_exponents(bases, exponents, modulus)
            window = grouped_window
    windows = -(-top.bit_length() // window)
    mask = (1 << window) - 1
    result = mpz(1)
    for k in range(windows - 1, -1, -1):
        if k != windows - 1:
            result = gmpy2.powmod(result, 1 << window, modulus)
        digits = (exponents >> (k * window)) & mask
        buckets: list[mpz | None] = [None] * (mask + 1)
        for base, digit in zip(bases, digits.tolist(), strict=True):
            if digit:
                held = buckets[digit]
                buckets[digit] = base if held is None else held * base % modulus
        running, total = mpz(1), mpz(1)
        for digit in range(mask, 0, -1):
            held = buckets[digit]
            if held is not None:
                running = running * held % modulus
            total = total * running % modulus
        result = result * total % modulus
    return result


def power_product(bases: list[mpz], exponents: np.ndarray, modulus: mpz, window: int) -> mpz:
    """``prod_i bases[i] ** exponents[i] mod modulus`` for signed exponents.

    Parameters
    ----------
    bases
        Units modulo ``modulus`` (Paillier ciphertexts are units mod n^2).
    exponents
        One signed integer per base: an int64 array, or an object array of Python ints for
        exponents beyond 62 bits.
    modulus
        The modulus (n^2).
    window
        Bucket window in bits (see :func:`window_bits`).

    Returns
    -------
    mpz
        The product; negative exponents go through one modular inverse for all of them.
    """
    positive = exponents > 0
    negative = exponents < 0
    result = _bucket_power_product(
        [b for b, keep in zip(bases, positive.tolist(), strict=True) if keep],
        exponents[positive],
        modulus,
        window,
    )
    if not negative.any():
        return result
    inverse_part = _bucket_power_product(
        [b for b, keep in zip(bases, negative.tolist(), strict=True) if keep],
        -exponents[negative],
        modulus,
        window,
    )
    return result * gmpy2.invert(inverse_part, modulus) % modulus


def power_products(bases: list[mpz], exponents: np.ndarray, modulus: mpz) -> list[mpz]:
    """``out[j] = prod_i bases[i] ** exponents[i, j] mod modulus`` for an (N, D) matrix.

    One column at a time in the calling thread: the work is many small multiplications,
    which hold the GIL, so threads would not help.
    """
    if exponents.ndim != 2 or exponents.shape[0] != len(bases):
        raise ValueError(f"{len(bases)} bases for an exponent matrix of shape {exponents.shape}")
    top = int(abs(exponents).max()) if exponents.size else 0
    window = window_bits(len(bases), max(1, top.bit_length()))
    return [
        power_product(bases, np.ascontiguousarray(exponents[:, j]), modulus, window)
        for j in range(exponents.shape[1])
    ]
