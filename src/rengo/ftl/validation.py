"""Held-out validation and early stopping of federated transfer learning.

With ``validation_fraction`` > 0 the target holds that share of its labelled rows out of
training (:func:`rengo.vfl.early_stopping.validation_mask` from the run's seed). After every
epoch it scores them through the prediction protocol (:mod:`rengo.ftl.predict`: the very
messages scoring sends, so it learns the scores of its own rows as any scoring would and
nothing else) and compares them with its own labels (:func:`validation_scores`). It tells
the coordinator those figures (for the run record) and, with early stopping, the source only
whether the epoch was the best so far and whether training stops (:func:`decide`): two bits
an epoch, not the loss. Without a validation share the source decides on the training loss,
which it and the coordinator already know.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import DataError, ProtocolError
from rengo.ftl.config import TransferConfig
from rengo.metrics import roc_auc
from rengo.vfl.early_stopping import best_epoch, should_stop, validation_mask

VALIDATION = "validation"  # (per epoch) the scope of the held-out rows' scoring
SCORES = "validation-scores"  # (per epoch) B -> coordinator: the held-out loss, AUC, accuracy
DECISION = "decision"  # (per epoch, early stopping) decider -> peer: best so far? stop?


@dataclass(frozen=True)
class Decision:
    """What the deciding party tells its peer after an epoch: whether the epoch's loss is
    the best so far (keep these weights) and whether training stops."""

    best: bool
    stop: bool

    def to_wire(self) -> dict[str, bool]:
        """The message: two booleans."""
        return {"best": self.best, "stop": self.stop}

    @classmethod
    def from_wire(cls, value: Any, sender: str) -> Decision:
        """The decision ``sender`` sent.

        Raises
        ------
        ProtocolError
            Unless it is a mapping of exactly two booleans ``best`` and ``stop``.
        """
        if (
            not isinstance(value, dict)
            or set(value) != {"best", "stop"}
            or not all(isinstance(v, bool) for v in value.values())
        ):
            raise ProtocolError(f"{sender} sent a malformed early-stopping decision: {value!r}")
        return cls(value["best"], value["stop"])


def decide(history: Sequence[float], config: TransferConfig, last_epoch: bool) -> Decision:
    """After the epochs of ``history`` (the loss early stopping watches): whether the last
    is the best so far (the first of equals) and whether training stops (``epochs`` ran
    out, or :func:`~rengo.vfl.early_stopping.should_stop` at ``n_iter_no_change`` and
    ``tol``)."""
    stop = last_epoch or should_stop(history, config.n_iter_no_change, config.tol)
    return Decision(best_epoch(history) == len(history), stop)


def held_out(seed: int, labelled_rows: np.ndarray, config: TransferConfig, who: str) -> np.ndarray:
    """The mask over the target's labelled rows held out for validation.

    Raises
    ------
    DataError
        When ``validation_fraction`` > 0 holds out none of them.
    """
    mask = validation_mask(seed, len(labelled_rows), config.validation_fraction)
    if config.validation_fraction > 0 and not mask.any():
        raise DataError(
            f"{who}: validation_fraction = {config.validation_fraction} holds out none of its "
            f"{len(labelled_rows)} labelled rows; label more rows, raise validation_fraction, "
            "or set it to 0"
        )
    return mask


def validation_scores(
    probabilities: np.ndarray, truth: np.ndarray, binary: bool
) -> dict[str, float]:
    """The held-out rows' mean log loss (binary) or cross-entropy, accuracy and (binary,
    both classes present) ROC AUC.

    Parameters
    ----------
    probabilities
        ``P(y = 1)`` per row (binary) or a row of class probabilities.
    truth
        The index of each row's class in the source's class order.
    binary
        The objective.

    Returns
    -------
    dict
        ``loss``, ``accuracy`` and, where defined, ``auc``.
    """
    # Not rengo.metrics.log_loss / binary_accuracy: they refuse a one-class set, and a small
    # held-out share may have one class; its loss still guides early stopping.
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(truth, dtype=np.int64)
    eps = 1e-12
    if binary:
        chosen = np.where(y == 1, p, 1.0 - p)
        predicted = (p >= 0.5).astype(np.int64)
    else:
        chosen = p[np.arange(len(y)), y]
        predicted = np.argmax(p, axis=1)
    out = {
        "loss": float(-np.mean(np.log(np.clip(chosen, eps, 1.0)))),
        "accuracy": float(np.mean(predicted == y)),
    }
    if binary and 0 < y.sum() < len(y):
        out["auc"] = roc_auc(y, p)
    return out


def scores_from_wire(value: Any, sender: str) -> dict[str, float]:
    """The held-out figures ``sender`` reported.

    Raises
    ------
    ProtocolError
        Unless they are a mapping with a finite ``loss`` and finite numbers otherwise.
    """
    if not isinstance(value, dict) or "loss" not in value:
        raise ProtocolError(f"{sender} sent malformed validation scores: {value!r}")
    out: dict[str, float] = {}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ProtocolError(f"{sender} sent a validation {name} that is not a number")
        if not np.isfinite(number):
            raise ProtocolError(f"{sender} sent a validation {name} that is not finite")
        out[str(name)] = float(number)
    return out
