"""L2 clipping of model updates: the sensitivity bound every DP mechanism here rests on.

McMahan, Ramage, Talwar, Zhang 2018, "Learning Differentially Private Recurrent Language
Models" (Algorithm 1, ``ClipFn``): an update ``delta`` is scaled to

    delta * min(1, S / ||delta||_2)

so that adding or removing one client moves the sum of updates by at most ``S``. The norm is
taken over all arrays together, in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rengo.core.parameters import sum_of_squares


def l2_norm(arrays: Sequence[np.ndarray]) -> float:
    """The L2 norm of ``arrays`` seen as one flat vector (float64; the same on any BLAS
    thread count, :func:`~rengo.core.parameters.sum_of_squares`)."""
    return float(np.sqrt(sum_of_squares(arrays)))


def clip_by_l2_norm(
    arrays: Sequence[np.ndarray], max_norm: float
) -> tuple[list[np.ndarray], float]:
    """``arrays * min(1, max_norm / ||arrays||)`` in float64, and the norm before clipping.

    Parameters
    ----------
    arrays
        The update (one array per parameter).
    max_norm
        The bound ``S`` (> 0).

    Returns
    -------
    tuple of (list of numpy.ndarray, float)
        The clipped arrays (float64 copies) and the original norm.

    Raises
    ------
    ValueError
        If ``max_norm`` is not positive and finite.
    """
    if not (np.isfinite(max_norm) and max_norm > 0):
        raise ValueError(f"max_norm must be a positive finite number, got {max_norm}")
    out = [np.array(a, dtype=np.float64) for a in arrays]
    norm = l2_norm(out)
    if norm > max_norm:
        scale = max_norm / norm
        for a in out:
            a *= scale
    return out, norm
