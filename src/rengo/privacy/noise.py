"""The Gaussian mechanism on a clipped sum (Dwork and Roth 2014, Appendix A; McMahan et al.
2018, Algorithm 1).

A sum of updates, each clipped to L2 norm ``S``, has L2 sensitivity ``S`` to adding or
removing one client. Adding ``N(0, (z S)^2)`` to every coordinate makes the release a
Gaussian mechanism with noise multiplier ``z``; dividing by a denominator that does not
depend on the data (the expected number of clients ``q N``) is post-processing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def gaussian_noise_like(
    arrays: Sequence[np.ndarray], stddev: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Independent ``N(0, stddev^2)`` noise shaped like ``arrays`` (float64).

    Raises
    ------
    ValueError
        If ``stddev`` is negative or not finite.
    """
    if not (np.isfinite(stddev) and stddev >= 0):
        raise ValueError(f"stddev must be a finite number >= 0, got {stddev}")
    return [np.asarray(rng.normal(0.0, stddev, size=np.shape(a)), dtype=np.float64) for a in arrays]


def noised_mean(
    sums: Sequence[np.ndarray],
    noise_stddev: float,
    denominator: float,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """``(sum + N(0, noise_stddev^2)) / denominator`` per array: the private mean of a
    clipped sum with a data-independent denominator (McMahan et al. 2018's fixed-denominator
    estimator).

    Raises
    ------
    ValueError
        If ``denominator`` is not positive.
    """
    if not denominator > 0:
        raise ValueError(f"denominator must be > 0, got {denominator}")
    noise = gaussian_noise_like(sums, noise_stddev, rng)
    return [
        np.asarray((np.asarray(s, np.float64) + n) / denominator)
        for s, n in zip(sums, noise, strict=True)
    ]
