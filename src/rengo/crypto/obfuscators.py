"""Precomputed Paillier obfuscators ``r^n mod n^2``: the costly half of every encryption.

An encryption is ``(1 + m*n) * r^n mod n^2`` and the modexp ``r^n`` does not depend on m, so
it can be computed ahead of time (idle time, all cores); online encryption is then one
multiplication. Three ways to make them:

* public key only: ``r^n mod n^2`` with r uniform in [1, n) (Paillier 1999);
* key holder: CRT halves ``y^p mod p^2`` and ``y^q mod q^2`` (exactly the same distribution,
  about 4x cheaper at 2048 bits, see :meth:`PaillierPrivateKey.combine_crt_halves`);
* opt-in short exponent (Damgård, Jurik, Nielsen, "A generalization of Paillier's public-key
  system with applications to electronic voting", IJIS 2010): ``h_s^a mod n^2`` with
  ``h_s = (-x^2)^n mod n^2`` fixed and a short random ``a``. Faster, but its security rests on
  an extra assumption (short exponents of h_s look like random n-th residues), so it is never
  the default.
"""

from __future__ import annotations

import threading
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from rengo.core.errors import ConfigError
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.parallel import map_chunks
from rengo.crypto.randomness import RandomSource, random_source

MIN_SHORT_EXPONENT_BITS = 224
"""Shortest DJN exponent accepted (twice a 112-bit security level)."""

_powmod = np.frompyfunc(gmpy2.powmod, 3, 1)


def djn_default_exponent_bits(public_key: PaillierPublicKey) -> int:
    """The exponent length DJN 2010 suggest: half the bit length of n."""
    return max(MIN_SHORT_EXPONENT_BITS, public_key.bits // 2)


class ObfuscatorPool:
    """A stock of fresh obfuscators for one key, filled ahead of time and used once each.

    Pass ``private_key`` when the key holder encrypts (CRT, same security, ~4x cheaper).
    ``short_exponent_bits`` switches on DJN short-exponent obfuscators (different security
    assumption, see the module docstring). ``seed`` is for reproducible tests only.
    """

    def __init__(
        self,
        public_key: PaillierPublicKey,
        *,
        private_key: PaillierPrivateKey | None = None,
        short_exponent_bits: int | None = None,
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
        self.public_key = public_key
        self.private_key = private_key
        self.short_exponent_bits = short_exponent_bits
        self.workers = workers
        self._rng: RandomSource = random_source(seed)
        self._lock = threading.Lock()
        self._stock: list[np.ndarray] = []
        self._size = 0
        self._djn_base: mpz | None = None
        if short_exponent_bits is not None:
            n, n2 = public_key.n, public_key.nsquare
            x = self._rng.randbelow(n - 1) + 1
            self._djn_base = gmpy2.powmod(-(x * x) % n, n, n2)

    @property
    def method(self) -> str:
        """How obfuscators are made: ``"crt"``, ``"djn-short-exponent"`` or ``"standard"``."""
        if self.private_key is not None:
            return "crt"
        return "standard" if self._djn_base is None else "djn-short-exponent"

    def __len__(self) -> int:
        return self._size

    def fill(self, count: int) -> None:
        """Precompute ``count`` more obfuscators (over ``workers`` threads)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        fresh = self.generate(count)
        with self._lock:
            self._stock.append(fresh)
            self._size += count

    def take(self, count: int) -> np.ndarray:
        """``count`` obfuscators (object array), from the stock first, the rest made now."""
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
        if needed:
            parts.append(self.generate(needed))
        return np.concatenate(parts) if parts else np.empty(0, dtype=object)

    def generate(self, count: int) -> np.ndarray:
        """``count`` fresh obfuscators, bypassing the stock."""
        if count <= 0:
            return np.empty(0, dtype=object)
        rng = self._rng
        if self.private_key is not None:
            key = self.private_key
            p, q = key.p, key.q
            yp = _object_array([rng.randbelow(p - 1) + 1 for _ in range(count)])
            yq = _object_array([rng.randbelow(q - 1) + 1 for _ in range(count)])
            xp = map_chunks(lambda y: _powmod(y, p, key.psquare), yp, workers=self.workers)
            xq = map_chunks(lambda y: _powmod(y, q, key.qsquare), yq, workers=self.workers)
            return key.combine_crt_halves(xp, xq)
        n, n2 = self.public_key.n, self.public_key.nsquare
        if self._djn_base is not None:
            base, bits = self._djn_base, self.short_exponent_bits or 0
            exps = _object_array([rng.randbits(bits) for _ in range(count)])
            return map_chunks(lambda e: _powmod(base, e, n2), exps, workers=self.workers)
        rs = _object_array([rng.randbelow(n - 1) + 1 for _ in range(count)])
        return map_chunks(lambda r: _powmod(r, n, n2), rs, workers=self.workers)


def _object_array(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out
