"""Adaptive clipping: Andrew, Thakkar, McMahan, Ramaswamy 2021, "Differentially Private
Learning with Adaptive Clipping" (NeurIPS 2021), Algorithm 1 with geometric updates.

Each sampled client reports one bit, ``b_i = 1`` when its update was NOT clipped
(``||delta_i|| <= C``). The coordinator releases the noised fraction of unclipped updates

    b = (sum_i b_i + N(0, sigma_b^2)) / (q N)     (centred below)

and moves the clip norm towards the ``gamma``-quantile of the unclipped update norms:

    C <- C * exp(-eta_C * (b - gamma))

Too many unclipped updates (``b > gamma``) mean ``C`` is above the quantile, so it shrinks;
too few, and it grows. (Flower 1.42 feeds the fraction of *clipped* updates into this rule,
which moves ``C`` away from the quantile.)

Privacy: the bits are centred before they are summed, as TF Privacy's
``QuantileEstimatorQuery`` does: the coordinator releases
``b = (sum_i (b_i - 1/2) + N(0, sigma_b^2)) / (q N) + 1/2``, a Gaussian mechanism of
sensitivity 1/2 (a client added or removed moves the centred sum by exactly 1/2, where it
would move the plain bit sum by 1), so one round of (update sum, bit sum) with noise
multipliers ``z_delta`` and ``sigma_b`` composes to a single Gaussian mechanism with

    z = (z_delta^-2 + (2 sigma_b)^-2)^(-1/2)          (Andrew et al., Theorem 1)

For a configured overall ``z``, the update noise uses :func:`update_noise_multiplier`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

DEFAULT_COUNT_STDDEV_DIVISOR = 20.0
"""Andrew et al. recommend ``sigma_b = expected clients per round / 20``."""


def update_noise_multiplier(noise_multiplier: float, count_stddev: float) -> float:
    """The update sum's multiplier ``z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2)`` that leaves the
    round's overall multiplier at ``noise_multiplier`` once the bit sum is released too.

    Raises
    ------
    ValueError
        If ``count_stddev <= z / 2``: the bit sum alone would spend the whole budget.
    """
    if noise_multiplier <= 0:
        raise ValueError(f"noise_multiplier must be > 0, got {noise_multiplier}")
    if count_stddev <= 0:
        raise ValueError(f"count_stddev must be > 0, got {count_stddev}")
    rest = noise_multiplier**-2 - (2.0 * count_stddev) ** -2
    if rest <= 0:
        raise ValueError(
            f"the clipped-count noise {count_stddev:g} must exceed z/2 = "
            f"{noise_multiplier / 2:g} for noise multiplier z = {noise_multiplier:g}; "
            "raise clipped_count_stddev or sample more clients per round"
        )
    return float(rest**-0.5)


def noised_unclipped_fraction(
    unclipped: float,
    expected_clients: float,
    count_stddev: float,
    rng: np.random.Generator,
    *,
    reported: int | None = None,
) -> float:
    """The private estimate of the fraction of updates left unclipped:
    ``(unclipped - reported/2 + N(0, count_stddev^2)) / expected_clients + 1/2``, clamped to
    [0, 1] (free post-processing): the sum of the ``reported`` clients' bits is centred
    (sensitivity 1/2, what :func:`update_noise_multiplier`'s accounting assumes; Andrew et
    al. 2021, TF Privacy's ``QuantileEstimatorQuery``).

    Parameters
    ----------
    unclipped
        The sum of the round's unclipped bits.
    expected_clients
        ``q N``, the data-independent denominator.
    count_stddev
        ``sigma_b``, the noise on the (centred) bit sum.
    rng
        Draws the noise.
    reported
        How many clients' bits ``unclipped`` sums. Without it (deprecated) the bits are not
        centred: that release has sensitivity 1, twice what the accounting assumes.

    Raises
    ------
    ValueError
        If ``expected_clients`` is not positive, or ``unclipped`` is not within
        ``0..reported``.
    """
    if not expected_clients > 0:
        raise ValueError(f"expected_clients must be > 0, got {expected_clients}")
    noise = rng.normal(0.0, count_stddev)
    if reported is None:
        warnings.warn(
            "noised_unclipped_fraction without reported= sums uncentred bits, a release of "
            "sensitivity 1 where update_noise_multiplier accounts for 1/2 (the privacy spent "
            "is underestimated); pass reported=<clients whose bits are summed>. Calls without "
            "it stop working in rengo 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return float((unclipped + noise) / expected_clients)
    if not 0 <= unclipped <= reported:
        raise ValueError(f"{unclipped} unclipped bits from {reported} clients")
    estimate = (unclipped - reported / 2 + noise) / expected_clients + 0.5
    return float(min(1.0, max(0.0, estimate)))  # a fraction (post-processing, as TF does)


def next_clip_norm(
    clip_norm: float, unclipped_fraction: float, target_quantile: float, learning_rate: float
) -> float:
    """Andrew et al.'s geometric update: ``C * exp(-eta_C * (b - gamma))``.

    Parameters
    ----------
    clip_norm
        The current clip norm ``C``.
    unclipped_fraction
        The (noised) fraction ``b`` of updates with norm ``<= C``.
    target_quantile
        ``gamma`` in [0, 1]: the quantile of update norms ``C`` should track.
    learning_rate
        ``eta_C`` (Andrew et al. use 0.2).

    Returns
    -------
    float
        The next clip norm.

    Raises
    ------
    ValueError
        If ``clip_norm`` or ``learning_rate`` is not positive or ``target_quantile`` is
        outside [0, 1].
    """
    if not clip_norm > 0 or not learning_rate > 0:
        raise ValueError("clip_norm and learning_rate must be > 0")
    if not 0.0 <= target_quantile <= 1.0:
        raise ValueError(f"target_quantile must be in [0, 1], got {target_quantile}")
    return float(clip_norm * math.exp(-learning_rate * (unclipped_fraction - target_quantile)))
