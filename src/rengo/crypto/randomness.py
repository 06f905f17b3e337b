"""Where Paillier randomness comes from: the OS CSPRNG by default, a seed only for tests.

Keys and obfuscators must be unpredictable, so the default source is :mod:`secrets`. A seeded
source (gmpy2's Mersenne-Twister state) exists only to make tests and benchmarks reproducible;
it is not cryptographically secure and says so in its name.
"""

from __future__ import annotations

import secrets
from typing import Protocol

import gmpy2
from gmpy2 import mpz


class RandomSource(Protocol):
    """Anything that can draw uniform big integers."""

    def randbits(self, bits: int) -> mpz:
        """A uniform integer in ``[0, 2**bits)``."""
        ...

    def randbelow(self, bound: int) -> mpz:
        """A uniform integer in ``[0, bound)``."""
        ...


class SystemRandomSource:
    """Cryptographically secure randomness from the operating system (:mod:`secrets`)."""

    def randbits(self, bits: int) -> mpz:
        """A uniform integer in ``[0, 2**bits)``."""
        return mpz(secrets.randbits(bits))

    def randbelow(self, bound: int) -> mpz:
        """A uniform integer in ``[0, bound)``."""
        return mpz(secrets.randbelow(int(bound)))


class InsecureSeededSource:
    """Reproducible randomness from a seed, for tests and benchmarks only (NOT secure)."""

    def __init__(self, seed: int) -> None:
        self._state = gmpy2.random_state(int(seed))

    def randbits(self, bits: int) -> mpz:
        """A uniform integer in ``[0, 2**bits)``."""
        return gmpy2.mpz_urandomb(self._state, bits)

    def randbelow(self, bound: int) -> mpz:
        """A uniform integer in ``[0, bound)``."""
        return gmpy2.mpz_random(self._state, bound)


def random_source(seed: int | None) -> RandomSource:
    """The OS CSPRNG when ``seed`` is None, else a seeded (insecure) source."""
    return SystemRandomSource() if seed is None else InsecureSeededSource(seed)
