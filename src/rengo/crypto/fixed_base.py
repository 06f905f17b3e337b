"""Fixed-base exponentiation with a precomputed window table: ``g^a mod m`` in ~bits/w products.

When the base is fixed and only the exponent changes (DJN obfuscators ``h_s^a mod n^2``), the
powers ``g^(d * 2^(w*i))`` for every window position i and digit d in ``[0, 2^w)`` can be
computed once; then ``g^a = prod_i T[i][a_i]`` where ``a_i`` are the base-2^w digits of a,
i.e. ``ceil(bits / w) - 1`` modular multiplications and no squarings (Brickell, Gordon,
McCurley and Wilson, "Fast exponentiation with precomputation", EUROCRYPT 1992, the simple
fixed-window form of their method). A ~1000-bit square-and-multiply exponentiation becomes
tens of multiplications, at the price of ``ceil(bits / w) * 2^w`` stored residues; the table
refuses to grow beyond ``max_bytes``.

Exponents are taken as their digits, so random exponents can be drawn straight as random
bytes (:meth:`FixedBaseTable.random_powers`) without building big integers first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from gmpy2 import mpz

from rengo.core.errors import ConfigError
from rengo.crypto.randomness import RandomSource

DEFAULT_WINDOW_BITS = 8
"""Digits of 8 bits: one byte of a random exponent is one table lookup."""

DEFAULT_MAX_TABLE_BYTES = 64 << 20
"""Largest table built unless asked otherwise (64 MiB; 2048-bit keys need ~17 MiB)."""

MAX_WINDOW_BITS = 16

DEFAULT_TABLE_BUDGET = 48 << 20
"""Memory a table chosen by :func:`best_window_bits` may take (48 MiB: for many powers of
DJN's ``ceil(k/2)``-bit exponents an 11-bit window at 1024-bit keys (~28 MiB), 9 bits at
2048 (~31 MiB) and 8 bits at 3072 (~38 MiB, the fixed 8-bit default's table))."""

EXPONENTIATION_COST_PER_BIT = 0.6
"""A GMP exponentiation by an l-bit exponent costs about ``0.6 * l`` of the table's modular
multiplications (measured: 909 us for l = 512 mod a 2048-bit modulus against 182 us for a
table's 63 multiplications; 5.8 ms for l = 1024 mod 4096 bits against 1.0 ms for 127)."""


@dataclass(frozen=True, eq=False)
class FixedBaseTable:
    """Precomputed powers of one base modulo one modulus for exponents below ``2**exponent_bits``.

    ``rows[i][d] = base ** (d << (window_bits * i)) mod modulus`` for every window position i
    and digit d. Build one with :meth:`build`; it is immutable and safe to share across
    threads.
    """

    base: mpz
    modulus: mpz
    exponent_bits: int
    window_bits: int
    rows: tuple[np.ndarray, ...]

    @classmethod
    def build(
        cls,
        base: int,
        modulus: int,
        exponent_bits: int,
        *,
        window_bits: int = DEFAULT_WINDOW_BITS,
        max_bytes: int = DEFAULT_MAX_TABLE_BYTES,
    ) -> FixedBaseTable:
        """Precompute the table of ``base`` for exponents of up to ``exponent_bits`` bits.

        Parameters
        ----------
        base, modulus
            The fixed base and the modulus (``modulus > 1``; the base is reduced mod it).
        exponent_bits
            Exponents must lie in ``[0, 2**exponent_bits)``.
        window_bits
            Bits per digit w: ``ceil(exponent_bits / w) - 1`` multiplications per power and
            ``ceil(exponent_bits / w) * 2**w`` stored residues.
        max_bytes
            Refuse a table larger than this (estimated from the modulus size).

        Raises
        ------
        ConfigError
            On non-positive sizes, a window outside ``[1, 16]`` or a table above ``max_bytes``.
        """
        modulus = mpz(modulus)
        check_table(modulus, exponent_bits, window_bits, max_bytes)
        windows = -(-exponent_bits // window_bits)
        digits = 1 << window_bits
        rows = []
        step = mpz(base) % modulus  # base ** (2 ** (w * i)) for the current row i
        for _ in range(windows):
            row = np.empty(digits, dtype=object)
            row[0] = mpz(1)
            power = mpz(1)
            for digit in range(1, digits):
                power = power * step % modulus
                row[digit] = power
            rows.append(row)
            step = power * step % modulus
        return cls(mpz(base) % modulus, modulus, exponent_bits, window_bits, tuple(rows))

    @property
    def windows(self) -> int:
        """Number of digits (table rows) of an exponent."""
        return len(self.rows)

    @property
    def multiplications_per_power(self) -> int:
        """Modular multiplications one power costs: one per digit after the first."""
        return self.windows - 1

    @property
    def nbytes(self) -> int:
        """Bytes held by the residues of the table (Python object overhead included)."""
        return sum(int(value.__sizeof__()) for row in self.rows for value in row.tolist()) + sum(
            row.nbytes for row in self.rows
        )

    def power(self, exponent: int) -> mpz:
        """``base ** exponent mod modulus`` for one exponent in ``[0, 2**exponent_bits)``."""
        return self.powers([exponent])[0]

    def powers(self, exponents: Iterable[int]) -> np.ndarray:
        """``base ** e mod modulus`` for each exponent (object array of ``mpz``).

        Raises
        ------
        ValueError
            If an exponent is negative or has more than ``exponent_bits`` bits.
        """
        values = [int(e) for e in exponents]
        if any(e < 0 or e.bit_length() > self.exponent_bits for e in values):
            raise ValueError(f"exponents must lie in [0, 2**{self.exponent_bits})")
        width = self.windows * self.window_bits
        raw = b"".join(e.to_bytes((width + 7) // 8, "little") for e in values)
        return self._evaluate(self._digits(raw, len(values)))

    def random_powers(self, count: int, rng: RandomSource) -> np.ndarray:
        """``count`` powers ``base ** a`` with a uniform in ``[0, 2**exponent_bits)``.

        The exponents are drawn as one block of random bits and used as digits directly;
        they are never returned (callers need only the powers).
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        if count == 0:
            return np.empty(0, dtype=object)
        stride = (self.windows * self.window_bits + 7) // 8
        raw = int(rng.randbits(8 * stride * count)).to_bytes(stride * count, "little")
        if 8 * stride != self.exponent_bits:  # clear the bits above exponent_bits
            blocks = np.frombuffer(raw, dtype=np.uint8).reshape(count, stride)
            bits = np.unpackbits(blocks, axis=1, bitorder="little")
            bits[:, self.exponent_bits :] = 0
            raw = np.packbits(bits, axis=1, bitorder="little").tobytes()
        return self._evaluate(self._digits(raw, count))

    def _digits(self, raw: bytes, count: int) -> np.ndarray:
        """(count, windows) digit matrix from ``count`` little-endian exponent blocks."""
        width = self.windows * self.window_bits
        stride = (width + 7) // 8
        blocks = np.frombuffer(raw, dtype=np.uint8).reshape(count, stride)
        if self.window_bits == 8:
            return blocks[:, : self.windows].astype(np.intp)
        bits = np.unpackbits(blocks, axis=1, bitorder="little")[:, :width]
        weights = 1 << np.arange(self.window_bits, dtype=np.intp)
        return bits.reshape(count, self.windows, self.window_bits).astype(np.intp) @ weights

    def _evaluate(self, digits: np.ndarray) -> np.ndarray:
        """``prod_i rows[i][digits[:, i]] mod modulus`` (vectorised over the rows of digits)."""
        modulus = self.modulus
        acc = self.rows[0][digits[:, 0]]
        for i in range(1, self.windows):
            acc = acc * self.rows[i][digits[:, i]] % modulus
        return np.asarray(acc, dtype=object)


def best_window_bits(
    exponent_bits: int,
    modulus_bits: int,
    expected_powers: int,
    *,
    max_bytes: int = DEFAULT_TABLE_BUDGET,
) -> int | None:
    """The window that makes ``expected_powers`` powers of one base cheapest, table
    included, or ``None`` when plain exponentiations are cheaper than building any table.

    A w-bit table costs ``ceil(l / w) * (2**w - 1)`` multiplications to build and
    ``ceil(l / w) - 1`` per power; an exponentiation about
    :data:`EXPONENTIATION_COST_PER_BIT` ``* l``. Tables above ``max_bytes`` are not
    considered.

    Parameters
    ----------
    exponent_bits
        l, the exponents' size.
    modulus_bits
        The modulus's size (the table's entries are this big).
    expected_powers
        How many powers the table will serve over its life.
    max_bytes
        Memory bound (:func:`table_bytes`).

    Returns
    -------
    int or None
        The window size in bits, or ``None`` for no table.

    Raises
    ------
    ValueError
        On a non-positive size or a negative count.
    """
    if exponent_bits < 1 or modulus_bits < 1 or expected_powers < 0:
        raise ValueError("sizes must be positive and the expected count non-negative")
    best: int | None = None
    best_cost = EXPONENTIATION_COST_PER_BIT * exponent_bits * expected_powers
    for window in range(1, MAX_WINDOW_BITS + 1):
        if table_bytes(exponent_bits, window, modulus_bits) > max_bytes:
            break
        windows = -(-exponent_bits // window)
        cost = windows * ((1 << window) - 1) + expected_powers * (windows - 1)
        if cost < best_cost:
            best, best_cost = window, cost
    return best


def check_table(
    modulus: int, exponent_bits: int, window_bits: int, max_bytes: int = DEFAULT_MAX_TABLE_BYTES
) -> None:
    """Refuse, before any work, the sizes :meth:`FixedBaseTable.build` refuses (so that a
    table built elsewhere, in a worker process, fails early with the same message).

    Raises
    ------
    ConfigError
        On a modulus below 2, non-positive ``exponent_bits``, a window outside ``[1, 16]``
        or a table above ``max_bytes``.
    """
    if modulus < 2:
        raise ConfigError("a fixed-base table needs a modulus > 1")
    if exponent_bits < 1:
        raise ConfigError(f"exponent_bits must be >= 1, got {exponent_bits}")
    if not 1 <= window_bits <= MAX_WINDOW_BITS:
        raise ConfigError(f"window_bits must lie in [1, {MAX_WINDOW_BITS}], got {window_bits}")
    modulus_bits = int(mpz(modulus).bit_length())
    size = table_bytes(exponent_bits, window_bits, modulus_bits)
    if size > max_bytes:
        raise ConfigError(
            f"a {window_bits}-bit window table for {exponent_bits}-bit exponents mod a "
            f"{modulus_bits}-bit modulus needs {size / 2**20:.1f} MiB, above "
            f"max_bytes={max_bytes / 2**20:.1f} MiB; lower window_bits or raise max_bytes"
        )


def table_bytes(exponent_bits: int, window_bits: int, modulus_bits: int) -> int:
    """Estimated bytes of a table: rows x 2^w residues of the modulus's size (plus 8-byte
    array slots and ~32 bytes of object header each)."""
    windows = -(-exponent_bits // window_bits)
    per_value = (modulus_bits + 7) // 8 + 32 + 8
    return windows * (1 << window_bits) * per_value
