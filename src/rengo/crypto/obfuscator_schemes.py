"""How Paillier obfuscators ``Enc(0) = r^n mod n^2`` are made, and what each way assumes.

An obfuscator is an encryption of zero; multiplying a ciphertext by a fresh one re-randomises
it, and ``(1 + m*n) * obfuscator`` encrypts m. Making them is the costly part of Paillier, so
rengo offers three schemes behind one small protocol (:class:`ObfuscatorScheme`), each
stating the assumption its security rests on (:data:`ObfuscatorAssumption`):

``"dcr"`` — :class:`FullExponentObfuscators` (anyone with the public key) and
:class:`KeyHolderObfuscators` (the key holder, by CRT). ``r^n mod n^2`` with r uniform in
``[1, n)`` is a uniformly random n-th residue, exactly as in Paillier's scheme (Paillier,
EUROCRYPT 1999); semantic security follows from the decisional composite residuosity
assumption (DCR) alone. Cost: one exponentiation with an n-bit exponent mod n^2 (the key
holder: two half-size ones mod p^2 and q^2, ~3.4-3.6x cheaper as measured).

``"dcr+short-exponent"`` — :class:`ShortExponentObfuscators`. Damgård, Jurik and Nielsen, "A
generalization of Paillier's public-key system with applications to electronic voting",
IJIS 9(6), 2010, give a faster variant: fix ``h = -x^2 mod n`` for a random x and
``h_s = h^n mod n^2`` (itself an obfuscator), and use ``h_s^a`` with a *short* random
exponent ``a`` in ``[0, 2^l)``. ``h_s^a`` is an n-th residue, so it decrypts to zero like
any obfuscator, but it is no longer uniform over the n-th residues: the scheme is
semantically secure under DCR **plus** the assumption that ``h_s^a`` with a short ``a``
cannot be told apart from ``h_s^a`` with ``a`` uniform modulo the (secret) order of ``h_s``.
The best known generic attack, Pollard's kangaroo method, finds an l-bit exponent in about
``2^(l/2)`` steps (van Oorschot and Wiener, "On Diffie-Hellman key agreement with short
exponents", EUROCRYPT 1996); in prime-order groups Koshiba and Kurosawa ("Short exponent
Diffie-Hellman problems", PKC 2004) show the decisional short-exponent problem is as hard as
the standard one when short discrete logarithms are hard. Diffie-Hellman practice therefore
asks for ``l >= 2 * security bits`` (RFC 7919, Section 5.2: 225 bits for 2048-bit groups).
rengo uses DJN's own, more conservative length ``l = ceil(k / 2)`` for a k-bit n (512, 1024
and 1536 bits for 1024-, 2048- and 3072-bit keys, against 2 * 80, 2 * 112 and 2 * 128 bits
by the kangaroo rule), as the ABY framework does (Demmler, Schneider and Zohner, NDSS 2015).
Shorter exponents, down to :data:`MIN_SHORT_EXPONENT_BITS`, are used only when asked for;
:func:`kangaroo_exponent_bits` gives the Diffie-Hellman rule's ``2 * security bits`` (224,
224, 256 bits), which costs 2-5x less than ``ceil(k/2)``.

Because ``h_s`` is fixed, its powers can be precomputed once
(:class:`~rengo.crypto.fixed_base.FixedBaseTable`): an obfuscator then costs ``l / 8``
multiplications instead of a full exponentiation — the speed-up that makes the
short-exponent scheme worth its extra assumption. Each party that encrypts draws its own x
(its own ``h_s``), so no party has to trust another's choice of base.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, get_args

import gmpy2
import numpy as np
from gmpy2 import mpz

from rengo.core.errors import ConfigError
from rengo.crypto.fixed_base import DEFAULT_MAX_TABLE_BYTES, DEFAULT_WINDOW_BITS, FixedBaseTable
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.parallel import MIN_CHUNK, resolve_workers
from rengo.crypto.randomness import RandomSource, SystemRandomSource

ObfuscatorAssumption = Literal["dcr", "dcr+short-exponent"]
"""What an obfuscator scheme's semantic security rests on (see the module docstring)."""

OBFUSCATOR_ASSUMPTIONS: tuple[ObfuscatorAssumption, ...] = get_args(ObfuscatorAssumption)

MIN_SHORT_EXPONENT_BITS = 224
"""Shortest DJN exponent accepted: twice the 112-bit security of a 2048-bit key."""


class ObfuscatorScheme(Protocol):
    """Makes fresh obfuscators (encryptions of zero) for one public key.

    ``generate(count, rng, workers)`` returns an object array of ``count`` fresh values in
    ``[1, n^2)`` drawn with ``rng``, spread over up to ``workers`` threads where the scheme
    releases the GIL. ``name`` identifies the scheme, ``assumption`` what it is secure under.
    """

    @property
    def public_key(self) -> PaillierPublicKey:
        """The key whose obfuscators it makes."""
        ...

    @property
    def name(self) -> str:
        """The scheme's name, as benchmarks and logs print it."""
        ...

    @property
    def assumption(self) -> ObfuscatorAssumption:
        """What its security rests on."""
        ...

    def generate(self, count: int, rng: RandomSource, workers: int | None = None) -> np.ndarray:
        """``count`` fresh obfuscators ``r^n mod n^2`` (an object array), from ``rng``."""
        ...


@dataclass(frozen=True, eq=False)
class FullExponentObfuscators:
    """``r^n mod n^2``, r uniform in ``[1, n)``: Paillier's own randomness (DCR only)."""

    public_key: PaillierPublicKey
    name: ClassVar[str] = "standard"
    assumption: ClassVar[ObfuscatorAssumption] = "dcr"

    def generate(self, count: int, rng: RandomSource, workers: int | None = None) -> np.ndarray:
        """``count`` obfuscators ``r^n mod n^2``, r uniform in ``[1, n)``."""
        n, nsquare = self.public_key.n, self.public_key.nsquare
        bases = [rng.randbelow(n - 1) + 1 for _ in range(max(count, 0))]
        return batch_map(lambda chunk: gmpy2.powmod_base_list(chunk, n, nsquare), bases, workers)


@dataclass(frozen=True, eq=False)
class KeyHolderObfuscators:
    """The key holder's CRT halves ``y^p mod p^2`` and ``y'^q mod q^2``, joined mod n^2:
    distributed exactly like ``r^n mod n^2`` (DCR only), ~3.4-3.6x cheaper as measured."""

    private_key: PaillierPrivateKey
    name: ClassVar[str] = "crt"
    assumption: ClassVar[ObfuscatorAssumption] = "dcr"

    @property
    def public_key(self) -> PaillierPublicKey:
        """The key whose obfuscators it makes."""
        return self.private_key.public_key

    def generate(self, count: int, rng: RandomSource, workers: int | None = None) -> np.ndarray:
        """``count`` obfuscators by CRT: ``y^p`` mod ``p^2`` and ``y'^q`` mod ``q^2``, joined."""
        key = self.private_key
        p, q = key.p, key.q
        yp = [rng.randbelow(p - 1) + 1 for _ in range(max(count, 0))]
        yq = [rng.randbelow(q - 1) + 1 for _ in range(max(count, 0))]
        xp = batch_map(lambda chunk: gmpy2.powmod_base_list(chunk, p, key.psquare), yp, workers)
        xq = batch_map(lambda chunk: gmpy2.powmod_base_list(chunk, q, key.qsquare), yq, workers)
        return key.combine_crt_halves(xp, xq)


@dataclass(frozen=True, eq=False)
class ShortExponentObfuscators:
    """DJN 2010 obfuscators ``h_s^a mod n^2`` with a short uniform ``a`` in ``[0, 2^l)``.

    Secure under DCR *and* the short-exponent assumption (module docstring). Build one with
    :meth:`create`; with a :class:`~rengo.crypto.fixed_base.FixedBaseTable` (the default)
    each obfuscator costs ``l / window_bits`` multiplications, without one a short
    exponentiation (spread over threads by gmpy2's GIL-free ``powmod_exp_list``).
    """

    public_key: PaillierPublicKey
    base: mpz
    exponent_bits: int
    table: FixedBaseTable | None = None
    assumption: ClassVar[ObfuscatorAssumption] = "dcr+short-exponent"

    def __post_init__(self) -> None:
        if self.exponent_bits < MIN_SHORT_EXPONENT_BITS:
            raise ConfigError(
                f"short exponents need >= {MIN_SHORT_EXPONENT_BITS} bits, got {self.exponent_bits}"
            )
        if self.table is not None and (
            self.table.base != self.base % self.public_key.nsquare
            or self.table.modulus != self.public_key.nsquare
            or self.table.exponent_bits != self.exponent_bits
        ):
            raise ConfigError("the fixed-base table was built for another base or exponent size")

    @classmethod
    def create(
        cls,
        public_key: PaillierPublicKey,
        rng: RandomSource,
        *,
        exponent_bits: int | None = None,
        fixed_base_table: bool = True,
        window_bits: int = DEFAULT_WINDOW_BITS,
        max_table_bytes: int = DEFAULT_MAX_TABLE_BYTES,
    ) -> ShortExponentObfuscators:
        """Draw ``h = -x^2 mod n`` with x uniform, set ``h_s = h^n mod n^2`` and (by default)
        precompute its fixed-base table.

        Parameters
        ----------
        public_key
            The key the obfuscators are for.
        rng
            Where x comes from (the OS CSPRNG unless testing).
        exponent_bits
            l; default :func:`djn_default_exponent_bits` (``ceil(k / 2)``).
        fixed_base_table, window_bits, max_table_bytes
            Whether to precompute ``h_s``'s powers, with which digit size and memory bound.

        Raises
        ------
        ConfigError
            If ``exponent_bits`` is below :data:`MIN_SHORT_EXPONENT_BITS` or the table would
            exceed ``max_table_bytes``.
        """
        bits = djn_default_exponent_bits(public_key) if exponent_bits is None else exponent_bits
        if bits < MIN_SHORT_EXPONENT_BITS:
            raise ConfigError(f"short exponents need >= {MIN_SHORT_EXPONENT_BITS} bits, got {bits}")
        n, nsquare = public_key.n, public_key.nsquare
        x = rng.randbelow(n - 1) + 1
        base = gmpy2.powmod(-(x * x) % n, n, nsquare)
        table = (
            FixedBaseTable.build(
                base, nsquare, bits, window_bits=window_bits, max_bytes=max_table_bytes
            )
            if fixed_base_table
            else None
        )
        return cls(public_key, base, bits, table)

    @property
    def name(self) -> str:
        """``djn-fixed-base`` with a precomputed table, else ``djn-short-exponent``."""
        return "djn-short-exponent" if self.table is None else "djn-fixed-base"

    def generate(self, count: int, rng: RandomSource, workers: int | None = None) -> np.ndarray:
        """``count`` obfuscators ``h_s^a mod n^2`` with short exponents ``a``."""
        if count <= 0:
            return np.empty(0, dtype=object)
        if self.table is not None:
            # Many small multiplications: they hold the GIL, so one thread does them all.
            return self.table.random_powers(count, rng)
        base, nsquare = self.base, self.public_key.nsquare
        exps = [rng.randbits(self.exponent_bits) for _ in range(count)]
        return batch_map(lambda chunk: gmpy2.powmod_exp_list(base, chunk, nsquare), exps, workers)


SECURITY_BITS = {512: 56, 1024: 80, 2048: 112, 3072: 128, 4096: 152}
"""Symmetric-equivalent strength of a modulus size (NIST SP 800-57 Part 1, Table 2, and SP
800-56B Rev. 2, Appendix D, for 4096 bits)."""


def security_bits(public_key: PaillierPublicKey) -> int:
    """The symmetric-equivalent strength of the key's modulus (the table's entry at or below
    its size)."""
    fitting = [bits for bits in SECURITY_BITS if bits <= public_key.bits]
    return SECURITY_BITS[max(fitting)] if fitting else SECURITY_BITS[min(SECURITY_BITS)]


def kangaroo_exponent_bits(public_key: PaillierPublicKey) -> int:
    """The short-exponent length of the Diffie-Hellman rule, ``2 * security bits`` (at
    least :data:`MIN_SHORT_EXPONENT_BITS`): 224 bits for 1024- and 2048-bit keys, 256 for
    3072, 304 for 4096. Finding such an exponent generically takes ``2^security`` steps;
    shorter than DJN's own ``ceil(k/2)`` and 2-5x cheaper (see the module docstring)."""
    return max(MIN_SHORT_EXPONENT_BITS, 2 * security_bits(public_key))


def djn_default_exponent_bits(public_key: PaillierPublicKey) -> int:
    """DJN's short-exponent length ``ceil(k / 2)`` for a k-bit n (at least
    :data:`MIN_SHORT_EXPONENT_BITS`)."""
    return max(MIN_SHORT_EXPONENT_BITS, -(-public_key.bits // 2))


def obfuscator_scheme(
    public_key: PaillierPublicKey,
    rng: RandomSource | None = None,
    *,
    assumption: ObfuscatorAssumption = "dcr",
    private_key: PaillierPrivateKey | None = None,
    exponent_bits: int | None = None,
    fixed_base_table: bool = True,
) -> ObfuscatorScheme:
    """The fastest scheme secure under ``assumption`` for this encryptor.

    ``"dcr"``: the key holder's CRT obfuscators when ``private_key`` is given, else full
    ``r^n``. ``"dcr+short-exponent"``: DJN short exponents for public-key encryptors (with a
    fixed-base table unless ``fixed_base_table=False``); the key holder keeps CRT, which is
    secure under DCR alone and needs no table.

    ``rng`` draws a short-exponent scheme's base (default: the OS CSPRNG; tests pass a
    seeded source).

    Raises
    ------
    ConfigError
        On an unknown assumption, a private key of another public key, ``exponent_bits``
        with ``assumption="dcr"``, or an ``rng`` that cannot draw big integers (a numpy
        ``Generator`` is not a cryptographic source).
    """
    if rng is None:
        rng = SystemRandomSource()
    elif not (hasattr(rng, "randbelow") and hasattr(rng, "randbits")):
        raise ConfigError(
            f"rng must draw big integers (randbits, randbelow), got {type(rng).__name__}; "
            "leave it out for the OS CSPRNG"
        )
    if assumption not in OBFUSCATOR_ASSUMPTIONS:
        raise ConfigError(f"assumption must be one of {OBFUSCATOR_ASSUMPTIONS}, got {assumption!r}")
    if private_key is not None:
        private_key.require_matches(public_key)
        return KeyHolderObfuscators(private_key)
    if assumption == "dcr":
        if exponent_bits is not None:
            raise ConfigError(
                "exponent_bits applies to short-exponent obfuscators: pass "
                "assumption='dcr+short-exponent'"
            )
        return FullExponentObfuscators(public_key)
    return ShortExponentObfuscators.create(
        public_key, rng, exponent_bits=exponent_bits, fixed_base_table=fixed_base_table
    )


def batch_map(
    fn: Callable[[list[mpz]], Sequence[mpz]], items: list[mpz], workers: int | None
) -> np.ndarray:
    """``fn`` (a GIL-releasing gmpy2 batch function) over contiguous slices of ``items`` on
    up to ``workers`` threads; the results concatenated into one object array."""
    chunks = min(resolve_workers(workers), len(items) // MIN_CHUNK)
    if chunks <= 1:
        parts = [fn(items)] if items else []
    else:
        bounds = np.linspace(0, len(items), chunks + 1).astype(int)
        slices = [items[lo:hi] for lo, hi in itertools.pairwise(bounds)]
        with ThreadPoolExecutor(chunks) as pool:
            parts = list(pool.map(fn, slices))
    out = np.empty(sum(len(part) for part in parts), dtype=object)
    out[:] = [value for part in parts for value in part]
    return out
