"""Training that diverged, named for what the user can change.

A vertical party whose own values (representations, embeddings, losses) stop being finite,
or outgrow the fixed-point range its ciphertexts hold, says so itself, before sending them,
naming the epoch, the batch and the learning rate: otherwise its peer reports a malformed
message (a ``ProtocolError`` that blames the sender) or a fixed-point overflow that suggests
lowering the precision, neither of which points at the step size. After training, an
estimator warns (scikit-learn's ``ConvergenceWarning``) when the losses say the step size was
wrong though every value stayed finite: :func:`loss_rose`, :func:`no_better_than_frequencies`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from rengo.core.errors import ConfigError


def diverged(party: str, what: str, epoch: int, batch: int, learning_rate: float) -> ConfigError:
    """The error of a party whose ``what`` stopped being finite (or representable) in
    ``batch`` of ``epoch`` (both 0-based; the message counts from 1)."""
    return ConfigError(
        f"{party}: training diverged in epoch {epoch + 1}, batch {batch + 1}: {what}; "
        f"learning_rate={learning_rate:g} is too high for this data (or its columns are not "
        "standardised): lower it"
    )


def require_finite(
    values: Iterable[np.ndarray],
    party: str,
    what: str,
    epoch: int,
    batch: int,
    learning_rate: float,
) -> None:
    """Raise :func:`diverged` unless every array of ``values`` is finite.

    Raises
    ------
    ConfigError
        Naming the party, ``what``, the epoch, the batch and the learning rate.
    """
    for value in values:
        if not np.isfinite(value).all():
            raise diverged(party, f"its {what} stopped being finite", epoch, batch, learning_rate)


def loss_rose(losses: Sequence[float], learning_rate: float) -> str | None:
    """Why the losses say training diverged: one is not finite, or the last epoch's is higher
    than the first's; ``None`` otherwise."""
    if not losses:
        return None
    if not all(math.isfinite(v) for v in losses) or (len(losses) > 1 and losses[-1] > losses[0]):
        return (
            f"the loss rose from {losses[0]:.6g} to {losses[-1]:.6g} over "
            f"{len(losses)} epochs: learning_rate={learning_rate:g} is too high for "
            "this data; lower it"
        )
    return None


def no_better_than_frequencies(
    losses: Sequence[float],
    labels: np.ndarray,
    learning_rate: float,
    sample_weight: np.ndarray | None = None,
) -> str | None:
    """Why a classifier's cross-entropy losses say it learned nothing usable: the last
    epoch's mean loss is not below the loss of predicting every row's class frequencies
    (the entropy of ``labels``; with ``sample_weight``, the mean weighted loss of predicting
    the weighted class frequencies, as a class-weighted loss is); ``None`` otherwise."""
    if not losses:
        return None
    _, index = np.unique(np.asarray(labels), return_inverse=True)
    weights = np.ones(len(index)) if sample_weight is None else np.asarray(sample_weight, float)
    totals = np.bincount(index.ravel(), weights=weights)
    shares = totals[totals > 0] / totals.sum()
    baseline = float(-(totals[totals > 0] / len(index) * np.log(shares)).sum())
    last = losses[-1]
    if math.isfinite(last) and last < baseline:
        return None
    return (
        f"the last epoch's training loss {last:.6g} is not below {baseline:.6g}, the loss of "
        f"predicting every row's class frequencies: adjust learning_rate={learning_rate:g} "
        f"(too high diverges, too low learns slowly) or epochs={len(losses)}, or the columns "
        "carry no signal"
    )
