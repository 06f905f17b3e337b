"""Early stopping shared by the vertical algorithms: which rows are held out for validation,
and when the loss has stopped improving.

Every party derives the same held-out rows from the run's seed, so the choice is never sent.
SecureBoost holds out a share of the aligned rows; transfer learning a share of the target's
labelled rows. Both stop on :func:`should_stop` (scikit-learn's ``tol`` /
``n_iter_no_change`` rule) and name the epoch (or round) with the lowest loss by
:func:`best_epoch`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from rengo.core.errors import DataError

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


def validation_share(seed: int, rows: int, fraction: float, name: str = "") -> np.ndarray:
    """:func:`validation_mask` of ``rows`` aligned rows, checked as SecureBoost and SplitNN
    take it (``name``: the party, prefixed to the messages).

    Raises
    ------
    DataError
        If a share above 0 holds out none of the rows (it rounds to 0: early stopping would
        follow the training loss), or holds out all of them (no row is left to train on).
    """
    mask = validation_mask(seed, rows, fraction)
    who = f"{name}: " if name else ""
    if rows and fraction > 0 and not mask.any():
        raise DataError(
            f"{who}validation_fraction = {fraction} holds out none of the {rows} aligned rows "
            "(it rounds to 0), so early stopping would follow the training loss; raise it "
            f"(at least {1 / rows:.3g} holds out one row), or set it to 0"
        )
    if rows and mask.all():
        raise DataError(
            f"{who}validation_fraction = {fraction} holds out all {rows} aligned rows: no row "
            "is left to train on; lower it"
        )
    return mask


def warn_if_never_stopped(name: str, fraction: float, held: int, rows: int, rounds: int) -> None:
    """Warn that the ``held`` of ``rows`` rows a validation share holds out are lost to
    training without ever stopping it (``rounds``: ``n_iter_no_change``, 0)."""
    if held and rounds == 0:
        warnings.warn(
            f"{name}: validation_fraction = {fraction} holds out {held} of the {rows} aligned "
            "rows, but n_iter_no_change = 0 never stops early on them (they only give "
            "validation_losses_); set n_iter_no_change >= 1 to stop early, or "
            "validation_fraction = 0 to train on every row",
            UserWarning,
            stacklevel=3,
        )


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
