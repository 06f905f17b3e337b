"""One way to turn a user's seed into a numpy Generator, so every random choice is explicit."""

from __future__ import annotations

import numpy as np

from rengo.core.errors import ConfigError

Seed = int | np.random.Generator


def as_generator(seed: Seed) -> np.random.Generator:
    """Return ``seed`` itself if it is a Generator, else a fresh PCG64 Generator seeded with it.

    Parameters
    ----------
    seed
        A non-negative integer, or a Generator to use as it is.

    Returns
    -------
    numpy.random.Generator
        ``seed`` itself, or a new Generator seeded with it.

    Raises
    ------
    ConfigError
        If ``seed`` is neither an integer nor a Generator (a bool is refused), or negative.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(
            f"seed must be an int or numpy.random.Generator, got {type(seed).__name__}"
        )
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))
