"""Arrays of Paillier ciphertexts with numpy-like homomorphic arithmetic and scale bookkeeping.

Paillier 1999 is additively homomorphic: ``E(a) * E(b) = E(a + b)`` and ``E(a)^k = E(k*a)``
(mod n^2). An :class:`EncryptedArray` holds one ciphertext per element and the fixed-point
``exponent`` of its plaintexts (value = integer / 2**exponent). Adding keeps the exponent;
multiplying by a plaintext encoded with ``b`` fractional bits adds ``b`` to it, so decryption
always returns floats at the right scale.

Ciphertexts are safe on the wire by default, as in python-paillier's
``EncryptedNumber.ciphertext(be_secure=True)``. Every array knows whether its randomness is
fresh: a new encryption, :meth:`EncryptedArray.rerandomize` and masking make it fresh; a
homomorphic result (a sum, a product with plaintexts) is a deterministic function of its
operands, so whoever knows the input ciphertexts could test guesses of the plaintext operand,
and it is not fresh; nor is an array received from another party. The codec refuses to send
an array that is not fresh (:class:`UnrandomizedCiphertextError` names the fix) unless the
sender opts out explicitly with :meth:`EncryptedArray.insecure_unrandomized`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import gmpy2
import numpy as np
from numpy.typing import ArrayLike

from rengo.core.codec import register_type
from rengo.core.errors import RengoError
from rengo.crypto import wire_fields
from rengo.crypto.fixed_point import (
    DEFAULT_PRECISION_BITS,
    FixedPointOverflowError,
    from_residues,
    integers_to_floats,
    require_precision_bits,
    scale_to_integers,
    to_residues,
)
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.multiexp import power_products
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.parallel import map_chunks

_powmod = np.frompyfunc(gmpy2.powmod, 3, 1)
_invert = np.frompyfunc(gmpy2.invert, 2, 1)

_INT64_EXPONENT_LIMIT = 2.0**62
"""Scaled plaintext multipliers below this magnitude stay int64 in :meth:`matmul`."""


class ScaleMismatchError(RengoError, ValueError):
    """Two encrypted arrays with different fixed-point exponents were combined."""


class UnrandomizedCiphertextError(RengoError, ValueError):
    """Ciphertexts that are not freshly randomised were about to leave this party."""


@dataclass(frozen=True, eq=False)
class EncryptedArray:
    """Paillier ciphertexts (object array of gmpy2 ``mpz``) of one key and one exponent.

    Parameters
    ----------
    public_key
        The key every ciphertext is under.
    ciphertexts
        Object array of ``mpz`` in ``[1, n^2)``; any shape.
    exponent
        Fixed-point exponent: each plaintext is ``integer / 2**exponent``.
    fresh
        True when the randomness is fresh (a new encryption, :meth:`rerandomize`, masking):
        the codec sends only fresh arrays.
    insecure_unrandomized_ok
        The sender's explicit opt-out (see :meth:`insecure_unrandomized`).
    """

    public_key: PaillierPublicKey
    ciphertexts: np.ndarray
    exponent: int
    fresh: bool = False
    insecure_unrandomized_ok: bool = False

    __array_ufunc__ = None  # make ``ndarray * enc`` and ``ndarray @ enc`` call our operators

    @classmethod
    def from_ciphertexts(
        cls, public_key: PaillierPublicKey, ciphertexts: Any, exponent: int
    ) -> EncryptedArray:
        """Wrap untrusted ciphertexts after checking the exponent and that each is an
        integer in [1, n^2) sharing no factor with n
        (:class:`~rengo.crypto.keys.InvalidCiphertextError` otherwise)."""
        array = np.asarray(ciphertexts, dtype=object)
        if not isinstance(exponent, int) or not 0 <= exponent <= 1 << 16:
            raise ValueError(f"bad fixed-point exponent {exponent!r}")
        flat = [public_key.require_ciphertext(c) for c in array.ravel().tolist()]
        return cls(public_key, _object_array(flat, array.shape), exponent)

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape (as numpy's)."""
        return tuple(self.ciphertexts.shape)

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self.ciphertexts.ndim

    @property
    def size(self) -> int:
        """The number of ciphertexts."""
        return int(self.ciphertexts.size)

    def __len__(self) -> int:
        return len(self.ciphertexts)

    def __repr__(self) -> str:
        return (
            f"EncryptedArray(shape={self.shape}, exponent={self.exponent}, "
            f"key={self.public_key.fingerprint})"
        )

    def _like(self, ciphertexts: Any, exponent: int | None = None) -> EncryptedArray:
        """A homomorphic result: same key, not fresh (a function of its operands)."""
        array = ciphertexts if isinstance(ciphertexts, np.ndarray) else _scalar(ciphertexts)
        return EncryptedArray(
            self.public_key, array, self.exponent if exponent is None else exponent
        )

    def _view(self, ciphertexts: Any) -> EncryptedArray:
        """The same ciphertexts rearranged: their randomness, and so freshness, is kept."""
        array = ciphertexts if isinstance(ciphertexts, np.ndarray) else _scalar(ciphertexts)
        return replace(self, ciphertexts=array)

    def __getitem__(self, index: Any) -> EncryptedArray:
        return self._view(self.ciphertexts[index])

    def reshape(self, *shape: Any) -> EncryptedArray:
        """The same ciphertexts in another shape (numpy's ``reshape``)."""
        return self._view(self.ciphertexts.reshape(*shape))

    def ravel(self) -> EncryptedArray:
        """The ciphertexts as one dimension (numpy's ``ravel``)."""
        return self._view(self.ciphertexts.ravel())

    @property
    def T(self) -> EncryptedArray:
        """The transpose."""
        return self._view(self.ciphertexts.T)

    # ------------------------------------------------------------ arithmetic
    def _check_other(self, other: EncryptedArray) -> None:
        self.public_key.require_same(other.public_key)
        if other.exponent != self.exponent:
            raise ScaleMismatchError(
                f"cannot combine exponents {self.exponent} and {other.exponent}; bring both to "
                "one scale first with .rescale(exponent)"
            )

    def _encode_plain(self, values: ArrayLike, *, negate: bool = False) -> np.ndarray:
        """``g^m = 1 + m*n mod n^2`` for plaintexts encoded at this array's exponent (of
        their negatives with ``negate``, taken on the exact integers: numpy's negation wraps
        unsigned values and int64's minimum)."""
        scaled = scale_to_integers(values, self.exponent)
        if negate:
            scaled = _object_array([-v for v in scaled.ravel().tolist()], scaled.shape)
        residues = to_residues(scaled, self.public_key)
        encoded: np.ndarray = 1 + residues * self.public_key.n
        return encoded

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
        negated = self._encode_plain(other, negate=True)
        return self._like(self.ciphertexts * negated % self.public_key.nsquare)

    def __rsub__(self, other: Any) -> EncryptedArray:
        difference: EncryptedArray = (-self) + other
        return difference

    def multiply(
        self,
        other: ArrayLike,
        precision_bits: int | None = None,
        *,
        workers: int | None = None,
    ) -> EncryptedArray:
        """Elementwise product with plaintexts (broadcasting), as ``E(a)^k = E(k*a)``.

        Integers multiply exactly, whatever their size (numpy integers, Python ints,
        ``mpz``, object arrays of them): they get 0 fractional bits unless
        ``precision_bits`` asks otherwise. Floats are encoded with ``precision_bits``
        fractional bits (default 32), which the result's exponent gains.

        Raises
        ------
        ValueError
            If ``precision_bits`` is not an integer in [0, 1024].
        FixedPointOverflowError
            If a scaled plaintext exceeds the key's range.
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
        powers: np.ndarray = _powmod(bases, exps, nsquare)
        return powers

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
        """``self @ matrix`` for a plaintext matrix: ``out[j] = prod_i c_i ** x_ij (mod n^2)``.

        Each output ciphertext is one multi-exponentiation by Pippenger's bucket method
        (see :mod:`rengo.crypto.multiexp`): about ``bits / window`` modular multiplications
        per element instead of one modexp, the fast path for vertical LR gradients
        ``Enc(d)^T X`` and every other encrypted-vector times plaintext-matrix product.

        Parameters
        ----------
        matrix
            Plaintext (N,) or (N, D), N = ``self.shape[-1]``.
        precision_bits
            Fractional bits of the plaintext operand (the result's exponent gains them), in
            [0, 1024]; default 0 for integers and 32 for floats.
        workers
            Ignored (deprecated): the bucket method runs in the calling thread.

        Returns
        -------
        EncryptedArray
            Shape ``self.shape[:-1] + matrix.shape[1:]``, at exponent
            ``self.exponent + precision_bits``; not fresh. Encryptions of 0 when N = 0.

        Raises
        ------
        ValueError
            If the shapes do not align, the matrix is not finite, or ``precision_bits`` is
            not an integer in [0, 1024].
        FixedPointOverflowError
            If a scaled plaintext exceeds the key's range.
        """
        if workers is not None:
            warnings.warn(
                "EncryptedArray.matmul(workers=...) is ignored and deprecated: the bucket "
                "method runs in the calling thread",
                DeprecationWarning,
                stacklevel=2,
            )
        plain = np.asarray(matrix)
        if self.ndim not in (1, 2) or plain.ndim not in (1, 2):
            raise ValueError("matmul needs a 1-D or 2-D encrypted array and plaintext matrix")
        if plain.shape[0] != self.shape[-1]:
            raise ValueError(
                f"matmul shapes {self.shape} and {plain.shape} mismatch: the encrypted "
                "array's last axis must equal the matrix's first"
            )
        bits = _plain_bits(plain, precision_bits)
        # explicit sizes: numpy cannot infer a -1 beside an axis of length N = 0
        columns, vectors = int(np.prod(plain.shape[1:])), int(np.prod(self.shape[:-1]))
        exps = _integer_multipliers(plain, bits, self.public_key).reshape(plain.shape[0], columns)
        nsquare = self.public_key.nsquare
        rows = self.ciphertexts.reshape(vectors, self.shape[-1])
        out = np.empty((rows.shape[0], exps.shape[1]), dtype=object)
        for k, row in enumerate(rows):
            out[k, :] = power_products(list(row.tolist()), exps, nsquare)
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
    def rerandomize(self, obfuscators: ObfuscatorPool | np.ndarray | None = None) -> EncryptedArray:
        """The same plaintexts under fresh randomness: times new obfuscators ``r^n``.

        Parameters
        ----------
        obfuscators
            A pool to take ``self.size`` obfuscators from, the obfuscators themselves (each
            used once: e.g. dealt by the key holder), or None for a new pool.

        Returns
        -------
        EncryptedArray
            Fresh: safe to send (see the module docstring).
        """
        if isinstance(obfuscators, np.ndarray):
            self.public_key.require_ciphertexts(obfuscators, "obfuscator")
            fresh = obfuscators.reshape(self.shape)
        else:
            pool = obfuscators if obfuscators is not None else ObfuscatorPool(self.public_key)
            self.public_key.require_same(pool.public_key, "obfuscators")
            fresh = pool.take(self.size).reshape(self.shape)
        product = self.ciphertexts * fresh % self.public_key.nsquare
        array = product if isinstance(product, np.ndarray) else _scalar(product)
        return EncryptedArray(self.public_key, array, self.exponent, fresh=True)

    def insecure_unrandomized(self) -> EncryptedArray:
        """These ciphertexts, allowed on the wire although they are not freshly randomised.

        INSECURE unless the receiver cannot know any ciphertext they were computed from: a
        homomorphic result is a deterministic function of its operands, so a receiver that
        holds them can test guesses of the plaintext operand (python-paillier's
        ``ciphertext(be_secure=False)``). Prefer :meth:`rerandomize`.
        """
        return replace(self, insecure_unrandomized_ok=True)

    @property
    def sendable(self) -> bool:
        """True when the codec may send this array: fresh, or the explicit opt-out."""
        return self.fresh or self.insecure_unrandomized_ok

    def require_sendable(self) -> None:
        """Raise :class:`UnrandomizedCiphertextError` (naming the fix) unless sendable."""
        if not self.sendable:
            raise UnrandomizedCiphertextError(
                f"refusing to send {self.size} Paillier ciphertexts that are not freshly "
                "randomised: they are a homomorphic function of ciphertexts the receiver may "
                "hold, which would let it test guesses of your plaintext operands. Send "
                "array.rerandomize(pool) (or mask it) instead; if no receiver can know an "
                "operand, array.insecure_unrandomized() opts out explicitly"
            )

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
    obfuscators: np.ndarray | None = None,
) -> EncryptedArray:
    """Encrypt a float or int array with ``precision_bits`` fractional bits.

    Parameters
    ----------
    values
        Floats or integers, any shape.
    public_key
        The key to encrypt under.
    precision_bits
        Fractional bits of the fixed-point encoding (the array's exponent), in [0, 1024].
    pool
        Precomputed obfuscators (online cost: one multiplication per value).
    private_key
        The key holder's private key: obfuscators are made by CRT (same distribution,
        ~3.5x cheaper as measured) when no pool is given.
    workers
        Threads for making obfuscators now (default: every core).
    obfuscators
        Exactly ``values.size`` obfuscators to use, once each (e.g. dealt by the key
        holder); overrides ``pool``.

    Returns
    -------
    EncryptedArray
        Fresh ciphertexts of ``values``.

    Raises
    ------
    ValueError
        If ``precision_bits`` is not an integer in [0, 1024].
    FixedPointOverflowError
        If a scaled value exceeds the key's range.
    KeyMismatchError
        If the pool belongs to another key.
    """
    precision_bits = require_precision_bits(precision_bits)
    plain = np.asarray(values)
    residues = to_residues(scale_to_integers(plain, precision_bits), public_key)
    if obfuscators is None:
        if pool is None:
            pool = ObfuscatorPool(public_key, private_key=private_key, workers=workers)
        public_key.require_same(pool.public_key, "obfuscators")
        obfuscators = pool.take(residues.size)
    elif obfuscators.size != residues.size:
        raise ValueError(f"{obfuscators.size} obfuscators for {residues.size} values")
    else:
        public_key.require_ciphertexts(obfuscators, "obfuscator")
    ciphertexts = (
        (1 + residues * public_key.n) * obfuscators.reshape(residues.shape) % public_key.nsquare
    )
    if not isinstance(ciphertexts, np.ndarray):
        ciphertexts = _scalar(ciphertexts)
    return EncryptedArray(public_key, ciphertexts, precision_bits, fresh=True)


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
    """Fractional bits for a plaintext operand: 0 for integers (numpy integer dtypes, and
    object arrays of Python ints or ``mpz``, which hold integers beyond int64 exactly)
    unless asked otherwise."""
    if precision_bits is not None:
        return require_precision_bits(precision_bits)
    if plain.dtype.kind in "iub" or (plain.dtype.kind == "O" and _all_integers(plain)):
        return 0
    return DEFAULT_PRECISION_BITS


def _all_integers(plain: np.ndarray) -> bool:
    return all(
        isinstance(v, (int, np.integer, gmpy2.mpz)) and not isinstance(v, (bool, np.bool_))
        for v in plain.ravel().tolist()
    )


def _integer_multipliers(plain: np.ndarray, bits: int, public_key: PaillierPublicKey) -> np.ndarray:
    """``round(plain * 2**bits)``: int64 when every value fits (the fast path for features),
    else exact Python ints; refuses NaN, infinities and values beyond the key's range."""
    if plain.dtype.kind == "f" and plain.size:
        if not np.isfinite(plain).all():
            raise ValueError("the plaintext matrix must be finite (no NaN or infinity)")
        scaled = np.rint(np.ldexp(plain.astype(np.float64, copy=False), bits))
        if np.abs(scaled).max() < _INT64_EXPONENT_LIMIT:
            return scaled.astype(np.int64)
    elif plain.dtype.kind in "iu" and plain.size and bits < 62:
        largest = max(int(plain.max()), -int(plain.min()))
        if largest < (1 << (62 - bits)):
            return plain.astype(np.int64) << bits
    exps = scale_to_integers(plain, bits)
    _check_multiplier(exps, public_key)
    return exps


def _check_multiplier(exps: np.ndarray, public_key: PaillierPublicKey) -> None:
    if exps.size and max(abs(int(e)) for e in exps.ravel().tolist()) > public_key.max_int:
        raise FixedPointOverflowError(
            "a plaintext multiplier exceeds the key's range (|k| <= n // 3 - 1)"
        )


def _product_first_axis(array: np.ndarray, public_key: PaillierPublicKey) -> np.ndarray:
    """Product mod n^2 along axis 0 by pairwise halving (vectorised over the other axes)."""
    if array.shape[0] == 0:
        ones: np.ndarray = np.ones(array.shape[1:], dtype=object) * gmpy2.mpz(1)
        return ones
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


def _object_array(items: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out.reshape(shape)


# -- on the wire ---------------------------------------------------------------------------
# Registered here, where the class is defined (see rengo.crypto.wire): encoding refuses a
# ciphertext that is not freshly randomised; decoding checks every field and ciphertext and
# builds an array that is not fresh (the receiver cannot vouch for its randomness).


def _encrypted_array_to_tree(array: EncryptedArray) -> dict[str, Any]:
    array.require_sendable()
    return {
        "key": array.public_key,
        "shape": list(array.shape),
        "exponent": array.exponent,
        "ct": wire_fields.ciphertexts_to_bytes(array.ciphertexts, array.public_key),
    }


def _encrypted_array_from_tree(tree: Any) -> EncryptedArray:
    key = wire_fields.field(tree, "key", PaillierPublicKey)
    shape = wire_fields.shape_field(wire_fields.field(tree, "shape", list))
    exponent = wire_fields.small_int(tree, "exponent", wire_fields.MAX_WIRE_EXPONENT)
    ciphertexts = wire_fields.ciphertexts_from_bytes(
        wire_fields.field(tree, "ct", bytes), key, shape
    )
    return EncryptedArray(key, ciphertexts, exponent)


register_type(
    "rengo.paillier.EncryptedArray",
    EncryptedArray,
    _encrypted_array_to_tree,
    _encrypted_array_from_tree,
)
