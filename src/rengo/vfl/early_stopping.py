"""Early stopping shared by the vertical algorithms: which rows are held out for validation,
and when the loss has stopped improving.

Every party derives the same held-out rows from the run's seed, so the choice is never sent.
SecureBoost holds out a share of the aligned rows; transfer learning a share of the target's
labelled rows. Both stop on :func:`should_stop` (scikit-learn's ``tol`` /
``n_iter_no_change`` rule) and name the epoch (or round) with the lowest loss by
:func:`best_epoch`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

VALIDATION_SALT = 0x5B01
"""Mixed into the run's seed to draw the held-out rows (SecureBoost's since its start)."""


def validation_mask(seed: int, rows: int, fraction: float) -> np.ndarray:
    """True for the ``round(fraction * rows)`` rows held out for early stopping, drawn from
    ``seed``."""
    mask = np.zeros(rows, dtype=bool)
    held = round(fraction * rows)
    if held:
        mask[np.random.default_rng([seed, VALIDATION_SALT]).permutation(rows)[:held]] = True
    return mask


def should_stop(history: Sequence[float], rounds: int, tol: float) -> bool:
    """Early stopping: none of the last ``rounds`` losses beat the best loss before them by
    more than ``tol`` (``rounds`` = 0 never stops)."""
    if rounds < 1 or len(history) <= rounds:
        return False
    reference = min(history[:-rounds])
    return all(value > reference - tol for value in history[-rounds:])


def best_epoch(history: Sequence[float]) -> int:
    """The 1-based epoch (or round) of the lowest loss in ``history``, the first of equals
    (0 for an empty history)."""
    return int(np.argmin(history)) + 1 if len(history) else 0
