"""Where a DP mechanism's randomness comes from: the operating system, never the run seed.

The Gaussian mechanism protects a value only while its noise is unknown to the adversary.
A run's seed is no secret (it is in the job file, in the run's recorded config and in
``rengo runs show``; simulations default to 0), so noise drawn from a generator seeded with
it can be drawn again and subtracted, and a Poisson sample drawn from it is known in
advance, which voids amplification by sampling (Balle, Barthe, Gaboardi 2018 assume the
sample hidden). Opacus draws from a cryptographically secure generator in its
``secure_mode`` for the same reason.

:func:`mechanism_rng` returns a generator seeded with 128 bits from the operating system
(``numpy.random.SeedSequence()``), unless the settings ask for ``seeded_noise`` (tests
only: reproducible, so no privacy against anyone who knows the seed). numpy's PCG64 is not a
cryptographic generator; with a secret 128-bit seed and only noised outputs published, no
attack on it is known, but floating-point attacks on the Gaussian sampler itself (Mironov
2012; Jin, McMurtry, Rubinstein, Ohrimenko 2022) are not defended against.
"""

from __future__ import annotations

import numpy as np

SEEDED_NOISE_WARNING = (
    "seeded_noise=True draws the DP noise and sampling from the run seed: anyone who knows "
    "the seed can draw the same noise and remove it, so the epsilon reported does not hold "
    "(for reproducible tests only)"
)
"""What a DP setting with ``seeded_noise = true`` warns."""


def mechanism_rng(seeded: np.random.Generator, seeded_noise: bool) -> np.random.Generator:
    """The generator a DP mechanism draws its noise or its sample from.

    Parameters
    ----------
    seeded
        The run's generator for this draw (derived from the run seed).
    seeded_noise
        Use ``seeded`` (reproducible; no privacy against whoever knows the seed) instead of
        fresh operating-system entropy.

    Returns
    -------
    numpy.random.Generator
        ``seeded``, or a generator seeded with 128 fresh bits from the operating system.
    """
    if seeded_noise:
        return seeded
    return np.random.default_rng(np.random.SeedSequence())
