"""Fixed-point encoding of signed floats into Paillier plaintexts, one scale per encoder.

A float x becomes the integer ``round(x * 2**precision_bits)``; negatives are stored as
``n - |v|`` (Paillier 1999 plaintexts are residues mod n). Every encoder uses one fixed scale,
so homomorphic additions never need exponent alignment. Magnitudes are limited to
``max_int = n // 3 - 1`` (python-paillier's range, so ciphertexts interoperate): an encoding
above it is refused, and a decrypted residue that falls in
``(max_int, n - max_int)`` is reported as overflow instead of wrapping into a wrong value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from gmpy2 import mpz
from numpy.typing import ArrayLike

from rengo.core.errors import DataError, RengoError
from rengo.crypto.keys import PaillierPublicKey

DEFAULT_PRECISION_BITS = 32
"""Default fractional bits: absolute rounding error 2**-33 per encoded value."""
MAX_PRECISION_BITS = 1024
"""The most fractional bits an encoding may have."""


class FixedPointOverflowError(RengoError, OverflowError):
    """A value is too large for the fixed-point range of the key (|encoding| > n // 3 - 1), or a
    homomorphic result overflowed that range and can no longer be decoded."""


@dataclass(frozen=True)
class FixedPointEncoder:
    """Encodes floats as integers ``round(x * 2**precision_bits)`` (and back).

    Integer arrays (also object arrays of Python ints, for exact big values) are encoded
    exactly (shifted left by ``precision_bits``); floats keep their
    53-bit mantissa and are rounded to the nearest multiple of ``2**-precision_bits``.
    """

    precision_bits: int = DEFAULT_PRECISION_BITS

    def __post_init__(self) -> None:
        require_precision_bits(self.precision_bits)

    @property
    def scale(self) -> int:
        """The fixed scale ``2**precision_bits``."""
        return 1 << self.precision_bits

    def encode_signed(self, values: ArrayLike) -> np.ndarray:
        """Signed integer encodings (object array of Python ints) of ``values``."""
        return scale_to_integers(values, self.precision_bits)

    def encode(self, values: ArrayLike, public_key: PaillierPublicKey) -> np.ndarray:
        """Plaintext residues in [0, n) of ``values``; raises on overflow."""
        return to_residues(self.encode_signed(values), public_key)

    def decode(self, residues: np.ndarray, public_key: PaillierPublicKey) -> np.ndarray:
        """Floats from residues made at this encoder's scale."""
        return integers_to_floats(from_residues(residues, public_key), self.precision_bits)


def require_precision_bits(precision_bits: int) -> int:
    """``precision_bits`` if it is an integer in ``[0, MAX_PRECISION_BITS]``.

    Raises
    ------
    ValueError
        Otherwise: a negative count would make a scale that decrypts to nothing or to 0.
    """
    if (
        not isinstance(precision_bits, (int, np.integer))
        or isinstance(precision_bits, (bool, np.bool_))
        or not 0 <= precision_bits <= MAX_PRECISION_BITS
    ):
        raise ValueError(
            f"precision_bits must be an integer in [0, {MAX_PRECISION_BITS}], "
            f"got {precision_bits!r}"
        )
    return int(precision_bits)


def scale_to_integers(values: ArrayLike, precision_bits: int) -> np.ndarray:
    """``round(values * 2**precision_bits)`` as an object array of exact Python ints."""
    array = np.asarray(values)
    if array.dtype.kind in "iub":
        flat = [int(v) << precision_bits for v in array.ravel().tolist()]
        return _object_array(flat, array.shape)
    if array.dtype.kind == "O" and all(_is_int(v) for v in array.ravel().tolist()):
        flat = [int(v) << precision_bits for v in array.ravel().tolist()]
        return _object_array(flat, array.shape)
    if array.dtype.kind != "f":
        raise DataError(f"cannot encode values of dtype {array.dtype}; pass floats or ints")
    if array.size and not np.isfinite(array).all():
        raise DataError("cannot encode NaN or infinite values")
    with np.errstate(over="ignore"):
        scaled = np.rint(np.ldexp(array.astype(np.float64, copy=False), precision_bits))
    if not array.size or np.abs(scaled).max() < 2.0**62:
        return np.asarray(scaled).astype(np.int64).astype(object)
    exact = [_round_scaled(v, precision_bits) for v in array.ravel().tolist()]
    return _object_array(exact, array.shape)


def _round_scaled(value: float, precision_bits: int) -> int:
    """``round(value * 2**precision_bits)`` computed exactly (ties to even, like ``np.rint``)."""
    numerator, denominator = float(value).as_integer_ratio()
    return round(Fraction(numerator << precision_bits, denominator))


def to_residues(signed: np.ndarray, public_key: PaillierPublicKey) -> np.ndarray:
    """Map signed ints to residues mod n (negatives as n - |v|), refusing |v| > n // 3 - 1."""
    if signed.size:
        limit = public_key.max_int
        largest = max(abs(int(v)) for v in signed.ravel().tolist())
        if largest > limit:
            raise FixedPointOverflowError(
                f"an encoded value has {largest.bit_length()} bits; a {public_key.bits}-bit key "
                f"holds at most {int(limit).bit_length()} bits (|encoding| <= n // 3 - 1). Lower "
                "the fixed-point precision (hetero linear models: feature_precision_bits, "
                "residual_precision_bits; SecureBoost and transfer learning: precision_bits) "
                "or the magnitude of the values (standardise the features)."
            )
    residues = signed % public_key.n
    return residues if isinstance(residues, np.ndarray) else _object_array([residues], ())


def from_residues(residues: np.ndarray, public_key: PaillierPublicKey) -> np.ndarray:
    """Signed ints from residues in [0, n); residues in the overflow band raise."""
    n, limit = public_key.n, public_key.max_int
    out = []
    for m in residues.ravel().tolist():
        if m <= limit:
            out.append(int(m))
        elif m >= n - limit:
            out.append(int(m - n))
        else:
            raise FixedPointOverflowError(
                "a decrypted value lies outside the fixed-point range (|value| > n // 3 - 1): a "
                "homomorphic result overflowed, or the ciphertext was made under another scale"
            )
    return _object_array(out, residues.shape)


def integers_to_floats(signed: np.ndarray, exponent: int) -> np.ndarray:
    """``signed / 2**exponent`` as float64, correctly rounded."""
    scale = 1 << exponent
    try:
        flat = [v / scale for v in signed.ravel().tolist()]
    except OverflowError as exc:
        raise FixedPointOverflowError(f"a decrypted value does not fit a float64: {exc}") from exc
    return np.array(flat, dtype=np.float64).reshape(signed.shape)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer, mpz)) and not isinstance(value, (bool, np.bool_))


def _object_array(items: Sequence[object], shape: tuple[int, ...]) -> np.ndarray:
    """An object array of ``items`` reshaped to ``shape`` (never a nested-sequence guess)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out.reshape(shape)
