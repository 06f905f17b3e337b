"""Precomputed Paillier obfuscators ``r^n mod n^2``: the costly half of every encryption.

An encryption is ``(1 + m*n) * r^n mod n^2`` and the modexp ``r^n`` does not depend on m, so
it can be computed ahead of time (idle time, all cores); online encryption is then one
multiplication. Three ways to make them:

* public key only: ``r^n mod n^2`` with r uniform in [1, n) (Paillier 1999);
* key holder: CRT halves ``y^p mod p^2`` and ``y^q mod q^2`` (exactly the same distribution,
  ~3.6x cheaper at 2048 bits as measured, see :meth:`PaillierPrivateKey.combine_crt_halves`);
* short exponent (Damgård, Jurik, Nielsen, "A generalization of Paillier's public-key
  system with applications to electronic voting", IJIS 2010): ``h_s^a mod n^2`` with
  ``h_s = (-x^2)^n mod n^2`` fixed and a short random ``a``, evaluated from a precomputed
  fixed-base table. Tens of multiplications instead of a full exponentiation, under an
  extra assumption (short exponents of h_s look like random n-th residues; stated
  precisely in :mod:`rengo.crypto.obfuscator_schemes`).

Which scheme a party that encrypts under *another* party's public key uses is a protocol option
(:data:`LocalObfuscatorScheme`, ``obfuscator_scheme`` on the vertical algorithms' configs):
``"djn"`` (the default, :data:`DEFAULT_LOCAL_OBFUSCATOR_SCHEME`), ``"djn-short"`` (the same with the
Diffie-Hellman rule's shorter exponents) or ``"full"`` (DCR alone).
:meth:`ObfuscatorPool.for_encryptor` builds such a pool, optionally run in worker processes. The key
holder always uses its CRT obfuscators (DCR alone, and cheaper than a table for it).

How obfuscators are made is an :class:`~rengo.crypto.obfuscator_schemes.ObfuscatorScheme`
(with the assumption it rests on); a pool takes one as ``scheme=``. A pool can also fill
itself on a background thread (:meth:`ObfuscatorPool.fill_in_background`) while its owner
waits for other parties: the offline phase of the protocol.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from rengo.core.errors import ConfigError
from rengo.crypto.fixed_base import DEFAULT_WINDOW_BITS, best_window_bits
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.obfuscator_processes import ObfuscatorProcesses
from rengo.crypto.obfuscator_schemes import (
    MIN_SHORT_EXPONENT_BITS,
    FullExponentObfuscators,
    KeyHolderObfuscators,
    ObfuscatorAssumption,
    ObfuscatorScheme,
    ShortExponentObfuscators,
    djn_default_exponent_bits,
    kangaroo_exponent_bits,
)
from rengo.crypto.randomness import RandomSource, random_source

__all__ = [
    "DEFAULT_LOCAL_OBFUSCATOR_SCHEME",
    "LOCAL_OBFUSCATOR_SCHEMES",
    "MAX_OBFUSCATOR_PROCESSES",
    "MIN_SHORT_EXPONENT_BITS",
    "LocalObfuscatorScheme",
    "ObfuscatorPool",
    "PoolStats",
    "djn_default_exponent_bits",
    "local_exponent_bits",
]


LocalObfuscatorScheme = Literal["djn", "djn-short", "full"]
"""How a party makes the obfuscators it encrypts with under another party's public key.

``"djn"``: Damgård-Jurik-Nielsen short exponents ``h_s^a``, ``a`` of ``ceil(k/2)`` bits for
a k-bit n, from a fixed-base table (:class:`ShortExponentObfuscators`). Secure under DCR
plus the short-exponent assumption: ``h_s^a`` for a uniform ``ceil(k/2)``-bit ``a`` cannot
be told from a uniformly random n-th residue (:data:`ObfuscatorAssumption`
``"dcr+short-exponent"``). ``"djn-short"``: the same form and assumption with the
Diffie-Hellman rule's exponent length, twice the key's security bits
(:func:`~rengo.crypto.obfuscator_schemes.kangaroo_exponent_bits`: 224 bits at 1024- and
2048-bit keys instead of 512 and 1024), so a kangaroo search still takes ``2^security``
steps; 2-5x cheaper per obfuscator, opt-in. ``"full"``: Paillier's ``r^n`` with r uniform
in ``[1, n)`` (:class:`FullExponentObfuscators`), secure under DCR alone, ~10-30x costlier
per obfuscator."""

LOCAL_OBFUSCATOR_SCHEMES: tuple[LocalObfuscatorScheme, ...] = get_args(LocalObfuscatorScheme)

DEFAULT_LOCAL_OBFUSCATOR_SCHEME: LocalObfuscatorScheme = "djn"
"""The default: DJN short exponents (see :data:`LocalObfuscatorScheme` and the README)."""

MAX_OBFUSCATOR_PROCESSES = 64
"""Most worker processes one party's pool may start."""


def local_exponent_bits(public_key: PaillierPublicKey, scheme: LocalObfuscatorScheme) -> int:
    """The short-exponent length ``l`` of a DJN scheme for this key: ``ceil(k/2)`` for
    ``"djn"``, ``2 * security bits`` for ``"djn-short"``.

    Raises
    ------
    ConfigError
        For ``"full"`` (no short exponent) or an unknown scheme.
    """
    if scheme == "djn":
        return djn_default_exponent_bits(public_key)
    if scheme == "djn-short":
        return kangaroo_exponent_bits(public_key)
    raise ConfigError(f"obfuscator scheme {scheme!r} has no short exponent")


@dataclass(frozen=True)
class PoolStats:
    """What a pool has done: obfuscators made ahead of use (``fill``, background fills),
    made on demand inside ``take`` because the stock ran short, and handed out; and the
    wall seconds each took. ``seconds_ahead`` is the offline phase (spent in ``fill``,
    on the caller's thread or the background one); ``seconds_on_demand`` is the time
    ``take`` spent on obfuscators (waiting for fills in flight, making the shortfall),
    which is on the protocol's critical path: the cryptography literature's online vs
    offline split."""

    made_ahead: int
    made_on_demand: int
    taken: int
    seconds_ahead: float = 0.0
    seconds_on_demand: float = 0.0


class ObfuscatorPool:
    """A stock of fresh obfuscators for one key, filled ahead of time and used once each.

    ``scheme`` says how obfuscators are made (see :mod:`rengo.crypto.obfuscator_schemes`);
    without one: the key holder's CRT obfuscators when ``private_key`` is given (same
    security, ~3.5x cheaper), DJN short exponents with a fixed-base table when
    ``short_exponent_bits`` is given (a different assumption), else full ``r^n``.
    ``seed`` is for reproducible tests only. Thread-safe; :meth:`close` stops a background
    filler.
    """

    def __init__(
        self,
        public_key: PaillierPublicKey,
        *,
        private_key: PaillierPrivateKey | None = None,
        short_exponent_bits: int | None = None,
        scheme: ObfuscatorScheme | None = None,
        seed: int | None = None,
        workers: int | None = None,
    ) -> None:
        if private_key is not None:
            private_key.require_matches(public_key)
            if short_exponent_bits is not None:
                raise ConfigError(
                    "short_exponent_bits is for public-key encryptors; the key holder's CRT "
                    "obfuscators are faster and need no extra assumption"
                )
        if short_exponent_bits is not None and short_exponent_bits < MIN_SHORT_EXPONENT_BITS:
            raise ConfigError(
                f"short_exponent_bits must be >= {MIN_SHORT_EXPONENT_BITS}, "
                f"got {short_exponent_bits}"
            )
        if scheme is not None and (private_key is not None or short_exponent_bits is not None):
            raise ConfigError("pass either scheme or private_key/short_exponent_bits, not both")
        self.public_key = public_key
        self.private_key = private_key
        self.short_exponent_bits = short_exponent_bits
        self.workers = workers
        self._rng: RandomSource = random_source(seed)
        if scheme is None:
            if private_key is not None:
                scheme = KeyHolderObfuscators(private_key)
            elif short_exponent_bits is not None:
                scheme = ShortExponentObfuscators.create(
                    public_key, self._rng, exponent_bits=short_exponent_bits
                )
            else:
                scheme = FullExponentObfuscators(public_key)
        public_key.require_same(scheme.public_key, "obfuscators")
        self.scheme: ObfuscatorScheme = scheme
        self._lock = threading.Lock()
        self._rng_lock = threading.Lock()
        self._stock: list[np.ndarray] = []
        self._size = 0
        self._made_ahead = 0
        self._made_on_demand = 0
        self._taken = 0
        self._replenished = 0  # ``_taken`` at the last replenish_in_background
        self._seconds_ahead = 0.0
        self._seconds_on_demand = 0.0
        self._background: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    @classmethod
    def for_encryptor(
        cls,
        public_key: PaillierPublicKey,
        scheme: LocalObfuscatorScheme = DEFAULT_LOCAL_OBFUSCATOR_SCHEME,
        *,
        processes: int = 0,
        seed: int | None = None,
        expected_count: int | None = None,
    ) -> ObfuscatorPool:
        """The pool of a party that encrypts under another party's public key with its own
        randomness (a feature party in hetero LR or SecureBoost, the masking side in FTL).

        Parameters
        ----------
        public_key
            The key holder's public key.
        scheme
            ``"djn"`` (default): short exponents from a fixed-base table, drawn from a base
            this party picks itself; ``"djn-short"``: the same with ``2 * security``-bit
            exponents; ``"full"``: ``r^n`` (DCR alone). See :data:`LocalObfuscatorScheme`
            for what each rests on.
        processes
            0 (default): make obfuscators in this process (threads where gmpy2 releases
            the GIL); ``k >= 1``: in k worker processes
            (:class:`~rengo.crypto.ObfuscatorProcesses`), so table lookups leave the GIL
            to the protocol's own threads; each worker builds the fixed-base table and
            this process builds none. Call :meth:`close` to stop them.
        seed
            For reproducible tests only.
        expected_count
            About how many obfuscators the pool will make over its life. With ``"djn"`` or
            ``"djn-short"`` it sizes the fixed-base table: the window that makes that many cheapest,
            table build included, within :data:`~rengo.crypto.fixed_base.DEFAULT_TABLE_BUDGET` (an
            11-bit window for 1024-bit keys when many are needed), and no table at all for a handful
            (plain short exponentiations). ``None``: an 8-bit window.

        Returns
        -------
        ObfuscatorPool
            An empty pool; fill it ahead of use with :meth:`fill` or
            :meth:`fill_in_background`.

        Raises
        ------
        ConfigError
            On an unknown scheme, a process count outside ``[0, 64]`` or a negative
            ``expected_count``.
        """
        if scheme not in LOCAL_OBFUSCATOR_SCHEMES:
            raise ConfigError(
                f"obfuscator_scheme must be one of {LOCAL_OBFUSCATOR_SCHEMES}, got {scheme!r}"
            )
        if not 0 <= processes <= MAX_OBFUSCATOR_PROCESSES:
            raise ConfigError(
                f"obfuscator_processes must lie in [0, {MAX_OBFUSCATOR_PROCESSES}], "
                f"got {processes!r}"
            )
        if expected_count is not None and expected_count < 0:
            raise ConfigError(f"expected_count must be >= 0, got {expected_count!r}")
        rng = random_source(seed)
        made: FullExponentObfuscators | ShortExponentObfuscators = FullExponentObfuscators(
            public_key
        )
        window: int | None = None
        if scheme != "full":
            exponent_bits = local_exponent_bits(public_key, scheme)
            window = DEFAULT_WINDOW_BITS
            if expected_count is not None:
                window = best_window_bits(
                    exponent_bits, int(public_key.nsquare.bit_length()), expected_count
                )
            made = ShortExponentObfuscators.create(
                public_key,
                rng,
                exponent_bits=exponent_bits,
                # with worker processes only the workers use a table: each builds its own
                fixed_base_table=window is not None and not processes,
                window_bits=DEFAULT_WINDOW_BITS if window is None else window,
            )
        chosen: ObfuscatorScheme = (
            ObfuscatorProcesses(made, processes, window_bits=window) if processes else made
        )
        return cls(public_key, scheme=chosen, seed=None if seed is None else seed + 1)

    @classmethod
    def for_key_holder(
        cls,
        public_key: PaillierPublicKey,
        private_key: PaillierPrivateKey | None,
        scheme: LocalObfuscatorScheme = DEFAULT_LOCAL_OBFUSCATOR_SCHEME,
        *,
        processes: int = 0,
        expected_count: int | None = None,
    ) -> ObfuscatorPool:
        """The pool of a party that encrypts under its *own* key (SecureBoost's label party,
        each party in transfer learning): the configured scheme's randomness, as
        :meth:`for_encryptor` makes it, except that for ``"full"`` a party holding
        ``private_key`` computes ``r^n`` by CRT (same security, ~3.5x cheaper).

        Parameters
        ----------
        public_key, private_key
            The party's key pair (``private_key`` None: a party that holds only the public
            key, whose ``"full"`` randomness is then the plain ``r^n``).
        scheme
            ``"djn"`` (default), ``"djn-short"`` or ``"full"`` (:data:`LocalObfuscatorScheme`).
        processes, expected_count
            As :meth:`for_encryptor`; unused by the CRT pool of ``"full"``, which needs no
            table and runs in this process.

        Returns
        -------
        ObfuscatorPool
            An empty pool.

        Raises
        ------
        ConfigError
            As :meth:`for_encryptor`.
        KeyMismatchError
            If ``private_key`` is not ``public_key``'s.
        """
        if private_key is not None:
            private_key.require_matches(public_key)
        if private_key is not None and scheme == "full":
            return cls(public_key, private_key=private_key)
        return cls.for_encryptor(
            public_key, scheme, processes=processes, expected_count=expected_count
        )

    @property
    def method(self) -> str:
        """How obfuscators are made: ``"crt"``, ``"standard"``, ``"djn-fixed-base"`` or
        ``"djn-short-exponent"``."""
        return self.scheme.name

    @property
    def assumption(self) -> ObfuscatorAssumption:
        """What the obfuscators' security rests on: ``"dcr"`` or ``"dcr+short-exponent"``."""
        return self.scheme.assumption

    @property
    def stats(self) -> PoolStats:
        """Counts of obfuscators made ahead, made on demand and handed out so far, and the
        seconds spent making them ahead and on demand."""
        with self._lock:
            return PoolStats(
                self._made_ahead,
                self._made_on_demand,
                self._taken,
                self._seconds_ahead,
                self._seconds_on_demand,
            )

    def __len__(self) -> int:
        return self._size

    def fill(self, count: int) -> None:
        """Precompute ``count`` more obfuscators now (blocking; over ``workers`` threads)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        start = time.perf_counter()
        fresh = self.generate(count)
        elapsed = time.perf_counter() - start
        with self._lock:
            self._stock.append(fresh)
            self._size += count
            self._made_ahead += count
            self._seconds_ahead += elapsed

    def fill_in_background(self, count: int) -> Future[None]:
        """Start making ``count`` more obfuscators on this pool's background thread and
        return at once: the offline phase, run while the owner waits for other parties.

        Fills run one after another; :meth:`take` waits for those in flight when the stock
        is short, so nothing is made twice. Call :meth:`close` (or use the pool as a
        context manager) to stop the thread.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            if self._background is None:
                self._background = ThreadPoolExecutor(1, thread_name_prefix="obfuscators")
            future = self._background.submit(self.fill, count)
            self._pending.append(future)
        return future

    def replenish_in_background(self) -> Future[None] | None:
        """Start making, on the background thread, as many obfuscators as were taken since
        the last replenishment (or since the pool was made): the offline phase of a protocol
        whose steps are alike, each refilling while the party waits for its peers what the
        step before it used. None when nothing was taken."""
        with self._lock:
            count, self._replenished = self._taken - self._replenished, self._taken
        return self.fill_in_background(count) if count > 0 else None

    def wait(self) -> None:
        """Block until every background fill started so far has finished."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result()
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]

    def close(self) -> None:
        """Wait for background fills, stop the background thread and any worker processes
        of the scheme (the stock stays usable)."""
        self.wait()
        with self._lock:
            background, self._background = self._background, None
        if background is not None:
            background.shutdown(wait=True)
        close_scheme = getattr(self.scheme, "close", None)
        if callable(close_scheme):
            close_scheme()

    def __enter__(self) -> ObfuscatorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def take(self, count: int) -> np.ndarray:
        """``count`` obfuscators (object array), from the stock first (after any background
        fill in flight), the rest made now."""
        start = time.perf_counter()
        with self._lock:
            short = self._size < count and bool(self._pending)
        if short:
            self.wait()
        with self._lock:
            parts, needed = [], count
            while needed and self._stock:
                head = self._stock[-1]
                used = min(needed, len(head))
                parts.append(head[len(head) - used :])
                self._stock[-1] = head[: len(head) - used]
                if not len(self._stock[-1]):
                    self._stock.pop()
                needed -= used
            self._size -= count - needed
            self._taken += count
            self._made_on_demand += needed
        if needed:
            parts.append(self.generate(needed))
        if short or needed:
            with self._lock:
                self._seconds_on_demand += time.perf_counter() - start
        return np.concatenate(parts) if parts else np.empty(0, dtype=object)

    def generate(self, count: int) -> np.ndarray:
        """``count`` fresh obfuscators, bypassing the stock."""
        if count <= 0:
            return np.empty(0, dtype=object)
        with self._rng_lock:  # seeded sources are not thread-safe
            return self.scheme.generate(count, self._rng, self.workers)
