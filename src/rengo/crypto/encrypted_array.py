"""Arrays of Paillier ciphertexts with numpy-like homomorphic arithmetic and scale bookkeeping.

Paillier 1999 is additively homomorphic: ``E(a) * E(b) = E(a + b)`` and ``E(a)^k = E(k*a)``
(mod n^2). An :class:`EncryptedArray` holds one ciphertext per element and the fixed-point
``exponent`` of its plaintexts (value = integer / 2**exponent). Adding keeps the exponent;
multiplying by a plaintext encoded with ``b`` fractional bits adds ``b`` to it, so decryption
always returns floats at the right scale.

Results of plaintext operations are deterministic functions of their inputs; call
:meth:`EncryptedArray.rerandomize` before sending one to the key holder, so that it cannot
test guesses of the plaintext operand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gmpy2
import numpy as np
from numpy.typing import ArrayLike

from rengo.core.errors import RengoError
from rengo.crypto.fixed_point import (
    DEFAULT_PRECISION_BITS,
    FixedPointOverflowError,
    from_residues,
    integers_to_floats,
    scale_to_integers,
    to_residues,
)
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.parallel import map_chunks

_powmod = np.frompyfunc(gmpy2.powmod, 3, 1)
_invert = np.frompyfunc(gmpy2.invert, 2, 1)

MATMUL_BLOCK = 1 << 16
"""Most modexps held in memory at once by :meth:`EncryptedArray.matmul`."""


class ScaleMismatchError(RengoError, ValueError):
    """Two encrypted arrays with different fixed-point exponents were combined."""


@dataclass(frozen=True, eq=False)
class EncryptedArray:
    """Paillier ciphertexts (object array of gmpy2 ``mpz``) of one key and one exponent."""

    public_key: PaillierPublicKey
    ciphertexts: np.ndarray
    exponent: int

    __array_ufunc__ = None  # make ``ndarray * enc`` and ``ndarray @ enc`` call our operators

    @classmethod
    def from_ciphertexts(
        cls, public_key: PaillierPublicKey, ciphertexts: Any, exponent: int
    ) -> EncryptedArray:
        """Wrap untrusted ciphertexts after checking each lies in [1, n^2) and the exponent."""
        array = np.asarray(ciphertexts, dtype=object)
        nsquare = public_key.nsquare
        if not all(0 < c < nsquare for c in array.ravel().tolist()):
            raise ValueError("every ciphertext must lie in [1, n^2)")
        if not isinstance(exponent, int) or not 0 <= exponent <= 1 << 16:
            raise ValueError(f"bad fixed-point exponent {exponent!r}")
        flat = [gmpy2.mpz(c) for c in array.ravel().tolist()]
        return cls(public_key, _object_array(flat, array.shape), exponent)

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.ciphertexts.shape)

    @property
    def ndim(self) -> int:
        return self.ciphertexts.ndim

    @property
    def size(self) -> int:
        return int(self.ciphertexts.size)

    def __len__(self) -> int:
        return len(self.ciphertexts)

    def __repr__(self) -> str:
        return (
            f"EncryptedArray(shape={self.shape}, exponent={self.exponent}, "
            f"key={self.public_key.fingerprint})"
        )

    def _like(self, ciphertexts: Any, exponent: int | None = None) -> EncryptedArray:
        array = ciphertexts if isinstance(ciphertexts, np.ndarray) else _scalar(ciphertexts)
        return EncryptedArray(
            self.public_key, array, self.exponent if exponent is None else exponent
        )

    def __getitem__(self, index: Any) -> EncryptedArray:
        return self._like(self.ciphertexts[index])

    def reshape(self, *shape: Any) -> EncryptedArray:
        return self._like(self.ciphertexts.reshape(*shape))

    def ravel(self) -> EncryptedArray:
        return self._like(self.ciphertexts.ravel())

    @property
    def T(self) -> EncryptedArray:
        return self._like(self.ciphertexts.T)

    # ------------------------------------------------------------ arithmetic
    def _check_other(self, other: EncryptedArray) -> None:
        self.public_key.require_same(other.public_key)
        if other.exponent != self.exponent:
            raise ScaleMismatchError(
                f"cannot combine exponents {self.exponent} and {other.exponent}; bring both to "
                "one scale first with .rescale(exponent)"
            )

    def _encode_plain(self, values: ArrayLike) -> np.ndarray:
        """``g^m = 1 + m*n mod n^2`` for plaintexts encoded at this array's exponent."""
        residues = to_residues(scale_to_integers(values, self.exponent), self.public_key)
        return 1 + residues * self.public_key.n

    def __add__(self, other: Any) -> EncryptedArray:
        nsquare = self.public_key.nsquare
        if isinstance(other, EncryptedArray):
            self._check_other(other)
            return self._like(self.ciphertexts * other.ciphertexts % nsquare)
        return self._like(self.ciphertexts * self._encode_plain(other) % nsquare)

    __radd__ = __add__

    def __neg__(self) -> EncryptedArray:
        return self._like(_invert(self.ciphertexts, self.public_key.nsquare))

    def __sub__(self, other: Any) -> EncryptedArray:
        if isinstance(other, EncryptedArray):
            return self + (-other)
        return self + (-np.asarray(other))

    def __rsub__(self, other: Any) -> EncryptedArray:
        return (-self) + other

    def multiply(
        self,
        other: ArrayLike,
        precision_bits: int | None = None,
        *,
        workers: int | None = None,
    ) -> EncryptedArray:
        """Elementwise product with plaintexts (broadcasting), as ``E(a)^k = E(k*a)``.

        Integers multiply exactly; floats are encoded with ``precision_bits`` fractional bits
        (default 32), which the result's exponent gains.
        """
        plain = np.asarray(other)
        bits = _plain_bits(plain, precision_bits)
        exps = scale_to_integers(plain, bits)
        _check_multiplier(exps, self.public_key)
        bases, exps = np.broadcast_arrays(self.ciphertexts, exps)
        shape = bases.shape
        product = map_chunks(
            self._signed_powers, bases.ravel(), workers, extra=(exps.ravel(),)
        ).reshape(shape)
        return self._like(product, self.exponent + bits)

    def __mul__(self, other: Any) -> EncryptedArray:
        if isinstance(other, EncryptedArray):
            raise TypeError("Paillier cannot multiply two ciphertexts; multiply by a plaintext")
        return self.multiply(other)

    __rmul__ = __mul__

    def _signed_powers(self, bases: np.ndarray, exps: np.ndarray) -> np.ndarray:
        """``bases[i] ** exps[i] mod n^2``, negative exponents through the modular inverse."""
        nsquare = self.public_key.nsquare
        negative = np.fromiter((e < 0 for e in exps), dtype=bool, count=len(exps))
        if negative.any():
            bases = bases.copy()
            bases[negative] = _invert(bases[negative], nsquare)
            exps = np.abs(exps)
        return _powmod(bases, exps, nsquare)

    def rescale(self, exponent: int) -> EncryptedArray:
        """The same values at a larger exponent (multiplies plaintexts by 2**difference)."""
        if exponent < self.exponent:
            raise ScaleMismatchError("rescale can only raise the exponent (no exact division)")
        if exponent == self.exponent:
            return self
        factor = gmpy2.mpz(1) << (exponent - self.exponent)
        powers = _powmod(self.ciphertexts, factor, self.public_key.nsquare)
        return self._like(powers, exponent)

    def sum(self, axis: int | None = None) -> EncryptedArray:
        """Homomorphic sum over ``axis`` (all elements when None): a product mod n^2."""
        if axis is None:
            return self._like(_product_first_axis(self.ciphertexts.ravel(), self.public_key))
        moved = np.moveaxis(self.ciphertexts, axis, 0)
        return self._like(_product_first_axis(moved, self.public_key))

    def matmul(
        self,
        matrix: ArrayLike,
        precision_bits: int | None = None,
        *,
        workers: int | None = None,
    ) -> EncryptedArray:
        """``self @ matrix`` for a plaintext matrix: out[j] = prod_i c_i ** x_ij (mod n^2).

        ``self`` is 1-D (N,) or 2-D (K, N); ``matrix`` is (N,) or (N, D). Used for gradients
        such as ``residual^T X`` in vertical logistic regression.
        """
        plain = np.asarray(matrix)
        if self.ndim not in (1, 2) or plain.ndim not in (1, 2):
            raise ValueError("matmul needs a 1-D or 2-D encrypted array and plaintext matrix")
        if plain.shape[0] != self.shape[-1]:
            raise ValueError(f"matmul shapes {self.shape} and {plain.shape} do not align")
        bits = _plain_bits(plain, precision_bits)
        exps = scale_to_integers(plain, bits)
        _check_multiplier(exps, self.public_key)
        exps2d = exps.reshape(plain.shape[0], -1)
        rows = self.ciphertexts.reshape(-1, self.shape[-1])
        out = np.empty((rows.shape[0], exps2d.shape[1]), dtype=object)
        columns_per_block = max(1, MATMUL_BLOCK // max(1, exps2d.shape[0]))
        for k, row in enumerate(rows):
            for start in range(0, exps2d.shape[1], columns_per_block):
                block = exps2d[:, start : start + columns_per_block]
                bases = np.broadcast_to(row[:, None], block.shape)
                powers = map_chunks(
                    self._signed_powers, bases.ravel(), workers, extra=(block.ravel(),)
                ).reshape(block.shape)
                out[k, start : start + block.shape[1]] = _product_first_axis(
                    powers, self.public_key
                )
        shape = self.shape[:-1] + plain.shape[1:]
        return self._like(out.reshape(shape), self.exponent + bits)

    def __matmul__(self, other: Any) -> EncryptedArray:
        if isinstance(other, EncryptedArray):
            raise TypeError("Paillier cannot multiply two ciphertexts; use a plaintext matrix")
        return self.matmul(other)

    def __rmatmul__(self, other: Any) -> EncryptedArray:
        """``matrix @ self`` for 1-D ``self``: equals ``self @ matrix.T``."""
        plain = np.asarray(other)
        if self.ndim != 1:
            raise ValueError("matrix @ encrypted is supported for 1-D encrypted vectors")
        return self.matmul(plain.T)

    # -------------------------------------------------------------- privacy
    def rerandomize(self, pool: ObfuscatorPool | None = None) -> EncryptedArray:
        """The same plaintexts under fresh randomness (multiply by new obfuscators)."""
        pool = pool if pool is not None else ObfuscatorPool(self.public_key)
        self.public_key.require_same(pool.public_key, "obfuscators")
        fresh = pool.take(self.size).reshape(self.shape)
        return self._like(self.ciphertexts * fresh % self.public_key.nsquare)

    def decrypt(self, private_key: PaillierPrivateKey, *, workers: int | None = None) -> np.ndarray:
        """Plaintext floats (see :func:`decrypt_array`)."""
        return decrypt_array(self, private_key, workers=workers)


def encrypt_array(
    values: ArrayLike,
    public_key: PaillierPublicKey,
    *,
    precision_bits: int = DEFAULT_PRECISION_BITS,
    pool: ObfuscatorPool | None = None,
    private_key: PaillierPrivateKey | None = None,
    workers: int | None = None,
) -> EncryptedArray:
    """Encrypt a float or int array with ``precision_bits`` fractional bits.

    Obfuscators come from ``pool`` (precomputed: online cost is one multiplication) or are
    made now, by CRT when ``private_key`` is given (the key holder encrypting).
    """
    plain = np.asarray(values)
    residues = to_residues(scale_to_integers(plain, precision_bits), public_key)
    if pool is None:
        pool = ObfuscatorPool(public_key, private_key=private_key, workers=workers)
    public_key.require_same(pool.public_key, "obfuscators")
    obfuscators = pool.take(residues.size).reshape(residues.shape)
    ciphertexts = (1 + residues * public_key.n) * obfuscators % public_key.nsquare
    if not isinstance(ciphertexts, np.ndarray):
        ciphertexts = _scalar(ciphertexts)
    return EncryptedArray(public_key, ciphertexts, precision_bits)


def decrypt_array(
    encrypted: EncryptedArray, private_key: PaillierPrivateKey, *, workers: int | None = None
) -> np.ndarray:
    """Decrypt to float64 by CRT; raises :class:`FixedPointOverflowError` on overflow and
    :class:`~rengo.core.errors.KeyMismatchError` for another key's ciphertexts."""
    private_key.require_matches(encrypted.public_key)
    flat = encrypted.ciphertexts.ravel()
    residues = map_chunks(private_key.raw_decrypt_array, flat, workers=workers)
    signed = from_residues(residues.reshape(encrypted.shape), private_key.public_key)
    return integers_to_floats(signed, encrypted.exponent)


def _plain_bits(plain: np.ndarray, precision_bits: int | None) -> int:
    """Fractional bits for a plaintext operand: 0 for integers unless asked otherwise."""
    if precision_bits is not None:
        return precision_bits
    return 0 if plain.dtype.kind in "iub" else DEFAULT_PRECISION_BITS


def _check_multiplier(exps: np.ndarray, public_key: PaillierPublicKey) -> None:
    if exps.size and max(abs(int(e)) for e in exps.ravel().tolist()) > public_key.max_int:
        raise FixedPointOverflowError("a plaintext multiplier exceeds the key's range (n // 3)")


def _product_first_axis(array: np.ndarray, public_key: PaillierPublicKey) -> np.ndarray:
    """Product mod n^2 along axis 0 by pairwise halving (vectorised over the other axes)."""
    if array.shape[0] == 0:
        return np.ones(array.shape[1:], dtype=object) * gmpy2.mpz(1)
    nsquare = public_key.nsquare
    while array.shape[0] > 1:
        half = array.shape[0] // 2
        paired = array[:half] * array[half : 2 * half] % nsquare
        array = np.concatenate([paired, array[2 * half :]]) if array.shape[0] % 2 else paired
    return array[0] if array.ndim > 1 else _scalar(array[0])


def _scalar(value: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def _object_array(items: list, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out.reshape(shape)
