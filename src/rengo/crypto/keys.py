"""Paillier key pairs with g = n + 1, CRT decryption and CRT obfuscators for the key holder.

Paillier, "Public-Key Cryptosystems Based on Composite Degree Residuosity Classes",
EUROCRYPT 1999. With g = n + 1, ``g^m = 1 + m*n (mod n^2)``, so encryption is one
multiplication by an obfuscator ``r^n mod n^2``. Decryption follows Paillier's Section 7
CRT speed-up: ``m_p = L_p(c^(p-1) mod p^2) * h_p mod p`` (same for q), recombined mod n.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from rengo.core.codec import register_type
from rengo.core.errors import KeyMismatchError, RengoError
from rengo.crypto import wire_fields
from rengo.crypto.randomness import RandomSource, random_source

DEFAULT_KEY_BITS = 2048
SUPPORTED_KEY_BITS = (512, 1024, 2048, 3072, 4096)
"""512 and 1024 bits are insecure and meant only for tests and benchmarks."""
MIN_WIRE_KEY_BITS = 512
MAX_WIRE_KEY_BITS = 8192

_powmod = np.frompyfunc(gmpy2.powmod, 3, 1)


class InvalidCiphertextError(RengoError, ValueError):
    """A value is not a ciphertext (or obfuscator) of this key: not an integer in
    [1, n^2), or sharing a factor with n. Whoever made it either knows a factor of n or
    sent garbage; decrypting it could leak the factors, so it is refused."""


@dataclass(frozen=True, eq=False)
class PaillierPublicKey:
    """A Paillier public key ``n`` (g is fixed to n + 1). Equal keys have equal ``n``.

    ``max_int = n // 3 - 1`` bounds the magnitude of signed plaintexts, exactly as
    python-paillier's ``PaillierPublicKey.max_int``: values in ``(max_int, n - max_int)``
    decrypt as overflow instead of silently wrapping, and every value rengo encrypts
    decrypts with python-paillier (and back).
    """

    n: mpz
    nsquare: mpz = field(init=False, repr=False)
    max_int: mpz = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = mpz(self.n)
        if n < 3 or n % 2 == 0:
            raise ValueError("a Paillier modulus must be an odd integer > 2")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "nsquare", n * n)
        object.__setattr__(self, "max_int", n // 3 - 1)

    @property
    def bits(self) -> int:
        """Bit length of the modulus n."""
        return int(self.n.bit_length())

    @property
    def ciphertext_bytes(self) -> int:
        """Fixed width of one ciphertext on the wire: the byte length of n^2."""
        return (int(self.nsquare.bit_length()) + 7) // 8

    @property
    def fingerprint(self) -> str:
        """Short hex digest of n, for logs and error messages."""
        raw = int(self.n).to_bytes((self.bits + 7) // 8, "big")
        return hashlib.sha256(raw).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPublicKey) and self.n == other.n

    def __hash__(self) -> int:
        return hash(("paillier", int(self.n)))

    def __repr__(self) -> str:
        return f"PaillierPublicKey(bits={self.bits}, fingerprint={self.fingerprint})"

    def require_same(self, other: PaillierPublicKey, what: str = "ciphertexts") -> None:
        """Raise :class:`KeyMismatchError` unless ``other`` is this key."""
        if self != other:
            raise KeyMismatchError(
                f"{what} are under key {other.fingerprint}, expected key {self.fingerprint}"
            )

    def raw_obfuscator(self, rng: RandomSource) -> mpz:
        """One fresh ``r^n mod n^2`` with r uniform in [1, n) (r^n mod n^2 depends on r mod n)."""
        r = rng.randbelow(self.n - 1) + 1
        return gmpy2.powmod(r, self.n, self.nsquare)

    def require_ciphertext(self, value: object, what: str = "ciphertext") -> mpz:
        """``value`` as an ``mpz`` if it is an integer in [1, n^2) coprime to n.

        Raises
        ------
        InvalidCiphertextError
            Anything else (0, negatives, values >= n^2, a shared factor with n).
        """
        if not _is_integer(value):
            raise InvalidCiphertextError(f"a {what} must be an integer, got {type(value).__name__}")
        c = mpz(value)
        if not 0 < c < self.nsquare:
            raise InvalidCiphertextError(f"a {what} must lie in [1, n^2)")
        if gmpy2.gcd(c, self.n) != 1:
            raise InvalidCiphertextError(
                f"a {what} shares a factor with the key's modulus n: it is not a valid "
                "ciphertext of this key and is refused"
            )
        return c

    def require_ciphertexts(self, values: np.ndarray, what: str = "ciphertext") -> None:
        """:meth:`require_ciphertext` for every element of an object array.

        Coprimality with n is checked for all of them at once (one gcd of their product
        mod n, ~5x cheaper than a gcd each); only when that fails is each one checked, to
        raise for the first bad one.

        Raises
        ------
        InvalidCiphertextError
            As :meth:`require_ciphertext`, for the first element that is not a ciphertext.
        """
        items = np.asarray(values, dtype=object).ravel().tolist()
        for value in items:
            if not _is_integer(value):
                raise InvalidCiphertextError(
                    f"a {what} must be an integer, got {type(value).__name__}"
                )
            if not 0 < value < self.nsquare:
                raise InvalidCiphertextError(f"a {what} must lie in [1, n^2)")
        self.require_units(items, what)

    def require_units(self, values: list[mpz], what: str = "ciphertext") -> None:
        """Raise unless every value (integers in [1, n^2)) is coprime to n.

        Raises
        ------
        InvalidCiphertextError
            Naming the problem for the first value that shares a factor with n.
        """
        n, product = self.n, mpz(1)
        for value in values:
            product = product * value % n
        if gmpy2.gcd(product, n) != 1:
            for value in values:
                self.require_ciphertext(value, what)

    def raw_encrypt(self, plaintext: int, obfuscator: int) -> mpz:
        """``(1 + m*n) * obfuscator mod n^2`` for an integer plaintext m in [0, n).

        Raises
        ------
        ValueError
            A plaintext that is not an integer in [0, n).
        InvalidCiphertextError
            An obfuscator that is not an integer in [1, n^2) coprime to n (0 would make the
            ciphertext 0, which decrypts to nothing and hides nothing).
        """
        if not _is_integer(plaintext) or not 0 <= plaintext < self.n:
            raise ValueError("raw plaintext must be an integer in [0, n)")
        r = self.require_ciphertext(obfuscator, "obfuscator")
        return (1 + mpz(plaintext) * self.n) * r % self.nsquare


@dataclass(frozen=True, eq=False)
class PaillierPrivateKey:
    """The factorisation ``n = p*q`` plus the CRT constants for fast decryption/obfuscation.

    Raises
    ------
    ValueError
        Unless ``p`` and ``q`` are distinct primes (so each > 1) whose product is the public
        modulus and ``gcd(n, (p-1)(q-1)) = 1``: other factors decrypt garbage.
    """

    public_key: PaillierPublicKey
    p: mpz
    q: mpz
    psquare: mpz = field(init=False, repr=False)
    qsquare: mpz = field(init=False, repr=False)
    hp: mpz = field(init=False, repr=False)
    hq: mpz = field(init=False, repr=False)
    p_inverse_mod_q: mpz = field(init=False, repr=False)
    psquare_inverse_mod_qsquare: mpz = field(init=False, repr=False)

    def __post_init__(self) -> None:
        p, q = mpz(self.p), mpz(self.q)
        if p == q or p * q != self.public_key.n:
            raise ValueError("p and q must be distinct factors of the public modulus")
        if not (gmpy2.is_prime(p) and gmpy2.is_prime(q)):  # each > 1 (negatives aren't prime)
            raise ValueError("p and q must be primes")
        if q < p:  # canonical order, so that equal keys have equal fields
            p, q = q, p
        if gmpy2.gcd(self.public_key.n, (p - 1) * (q - 1)) != 1:
            raise ValueError("gcd(n, (p-1)(q-1)) must be 1")
        g = self.public_key.n + 1
        sets = object.__setattr__
        sets(self, "p", p)
        sets(self, "q", q)
        sets(self, "psquare", p * p)
        sets(self, "qsquare", q * q)
        sets(self, "hp", gmpy2.invert((gmpy2.powmod(g, p - 1, p * p) - 1) // p, p))
        sets(self, "hq", gmpy2.invert((gmpy2.powmod(g, q - 1, q * q) - 1) // q, q))
        sets(self, "p_inverse_mod_q", gmpy2.invert(p, q))
        sets(self, "psquare_inverse_mod_qsquare", gmpy2.invert(p * p, q * q))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPrivateKey) and (self.p, self.q) == (other.p, other.q)

    def __hash__(self) -> int:
        return hash(("paillier-private", int(self.p), int(self.q)))

    def __repr__(self) -> str:
        return f"PaillierPrivateKey(public_key={self.public_key!r})"

    def raw_decrypt(self, ciphertext: int) -> mpz:
        """The plaintext in [0, n) of one ciphertext, by CRT (Paillier 1999, Section 7).

        Raises
        ------
        InvalidCiphertextError
            Not an integer in [1, n^2) coprime to n.
        """
        c = self.public_key.require_ciphertext(ciphertext)
        mp = (gmpy2.powmod(c, self.p - 1, self.psquare) - 1) // self.p * self.hp % self.p
        mq = (gmpy2.powmod(c, self.q - 1, self.qsquare) - 1) // self.q * self.hq % self.q
        return mp + (mq - mp) * self.p_inverse_mod_q % self.q * self.p

    def raw_decrypt_array(self, ciphertexts: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`raw_decrypt` over an object array of ciphertexts (each
        checked first: :class:`InvalidCiphertextError` for a bad one)."""
        self.public_key.require_ciphertexts(ciphertexts)
        p, q = self.p, self.q
        cp = _powmod(ciphertexts, p - 1, self.psquare)
        cq = _powmod(ciphertexts, q - 1, self.qsquare)
        mp = (cp - 1) // p * self.hp % p
        mq = (cq - 1) // q * self.hq % q
        plaintexts: np.ndarray = mp + (mq - mp) * self.p_inverse_mod_q % q * p
        return plaintexts

    def combine_crt_halves(self, xp: np.ndarray, xq: np.ndarray) -> np.ndarray:
        """The unique x mod n^2 with x = xp mod p^2 and x = xq mod q^2 (elementwise).

        Used for key-holder obfuscators: r^n mod p^2 lies in the order-(p-1) subgroup of
        Z*_{p^2}, and y^p mod p^2 with y uniform in [1, p) is uniform on that subgroup, so
        the CRT join of y^p mod p^2 and y'^q mod q^2 is distributed exactly like r^n mod n^2.
        """
        joined: np.ndarray = (
            xp + (xq - xp) * self.psquare_inverse_mod_qsquare % self.qsquare * self.psquare
        )
        return joined

    def require_matches(self, public_key: PaillierPublicKey) -> None:
        """Raise :class:`KeyMismatchError` unless ``public_key`` is this key's public half."""
        self.public_key.require_same(public_key, "ciphertexts")


def _is_integer(value: object) -> bool:
    return isinstance(value, (int, np.integer, mpz)) and not isinstance(value, (bool, np.bool_))


def _random_prime(bits: int, rng: RandomSource) -> mpz:
    """A random prime of exactly ``bits`` bits with its two top bits set (so p*q has 2*bits)."""
    while True:
        candidate = rng.randbits(bits) | (mpz(3) << (bits - 2)) | 1
        prime = gmpy2.next_prime(candidate)
        if prime.bit_length() == bits:
            return prime


def generate_paillier_keypair(
    bits: int = DEFAULT_KEY_BITS, *, seed: int | None = None
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A fresh Paillier key pair with an n of exactly ``bits`` bits (Paillier 1999).

    ``bits`` is one of 512, 1024 (insecure: tests and benchmarks only), 2048 (default), 3072
    or 4096. ``seed`` makes keys reproducible with an insecure generator: tests only.
    """
    if bits not in SUPPORTED_KEY_BITS:
        raise ValueError(f"key size must be one of {SUPPORTED_KEY_BITS}, got {bits}")
    rng = random_source(seed)
    while True:
        p = _random_prime(bits // 2, rng)
        q = _random_prime(bits // 2, rng)
        n = p * q
        if p != q and n.bit_length() == bits and gmpy2.gcd(n, (p - 1) * (q - 1)) == 1:
            public_key = PaillierPublicKey(n)
            return public_key, PaillierPrivateKey(public_key, p, q)


# -- on the wire ---------------------------------------------------------------------------
# Registered here, where the class is defined, so that a process that makes or receives a
# public key can send it through rengo.core.codec without importing anything else first.


def _public_key_to_tree(key: PaillierPublicKey) -> dict[str, Any]:
    return {"n": int(key.n).to_bytes((key.bits + 7) // 8, "big")}


def _public_key_from_tree(tree: Any) -> PaillierPublicKey:
    n = mpz.from_bytes(wire_fields.field(tree, "n", bytes), "big")
    if not MIN_WIRE_KEY_BITS <= n.bit_length() <= MAX_WIRE_KEY_BITS:
        raise ValueError(f"modulus of {n.bit_length()} bits is outside the accepted range")
    return PaillierPublicKey(n)


register_type(
    "rengo.paillier.PublicKey", PaillierPublicKey, _public_key_to_tree, _public_key_from_tree
)
