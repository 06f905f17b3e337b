"""Evaluation metrics shared by every area: ROC AUC, the Kolmogorov-Smirnov statistic,
accuracy and log loss.

One copy of each, layered above ``data`` and below ``hfl``/``vfl``, so that the vertical
estimator, the job runner, party valuation and the showcase report the same numbers.
Binary metrics take labels in {0, 1} (or booleans) and a score per row where larger means
"more likely 1"; scores need not be probabilities except where a function says so. Each
function checks its input and raises :class:`~rengo.core.errors.DataError` naming what is
wrong, since a metric silently computed on misaligned or one-class data is a wrong number
somebody may be paid by.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy.stats import rankdata

from rengo.core.errors import DataError

BinaryScorer = Callable[[Any, Any], float]
"""``scorer(y_true, probability) -> float``, higher is better."""


def _binary_labels_and_scores(y_true: Any, score: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-D boolean labels and float scores of the same length."""
    labels = np.asarray(y_true)
    scores = np.asarray(score, dtype=np.float64)
    if labels.ndim != 1 or scores.ndim != 1:
        raise DataError(
            f"{what} needs 1-D labels and scores, got shapes {labels.shape} and {scores.shape}"
        )
    if labels.shape != scores.shape:
        raise DataError(
            f"{what}: {labels.size} labels but {scores.size} scores; align them by row first"
        )
    if labels.dtype != np.bool_:
        if not np.isin(labels, (0, 1)).all():
            found = np.unique(labels[~np.isin(labels, (0, 1))])[:5].tolist()
            raise DataError(f"{what} needs labels in {{0, 1}}, found {found}")
        labels = labels == 1
    if not np.isfinite(scores).all():
        raise DataError(f"{what}: {int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    positives = int(labels.sum())
    if positives == 0 or positives == labels.size:
        raise DataError(
            f"{what} needs both classes; all {labels.size} labels are {int(labels[0])}"
            if labels.size
            else f"{what} needs both classes; got no rows"
        )
    return labels, scores


def roc_auc(y_true: Any, score: Any) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counting one half (the Mann-Whitney U statistic over
    ``n_pos * n_neg``, with average ranks for tied scores; equals scikit-learn's
    ``roc_auc_score``).

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans), one per row.
    score:
        Scores, one per row; only their order matters.

    Returns
    -------
    float
        The AUC in [0, 1]; 0.5 is a random ranking.

    Raises
    ------
    DataError
        Shapes differ or are not 1-D, a label is not 0/1, a score is NaN/inf, or only one
        class is present.
    """
    labels, scores = _binary_labels_and_scores(y_true, score, "roc_auc")
    positives = int(labels.sum())
    negatives = labels.size - positives
    ranks = rankdata(scores)
    u = float(ranks[labels].sum()) - positives * (positives + 1) / 2
    return u / (positives * negatives)


def ks_statistic(y_true: Any, score: Any) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the empirical score
    distribution functions of the two classes, ``max_t |F_1(t) - F_0(t)|`` (the credit-
    scoring separation measure; equals ``scipy.stats.ks_2samp``'s statistic).

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans), one per row.
    score:
        Scores, one per row.

    Returns
    -------
    float
        In [0, 1]: 1 when a threshold separates the classes perfectly, 0 when their score
        distributions coincide.

    Raises
    ------
    DataError
        As :func:`roc_auc`.
    """
    labels, scores = _binary_labels_and_scores(y_true, score, "ks_statistic")
    thresholds = np.unique(scores)
    positive = np.sort(scores[labels])
    negative = np.sort(scores[~labels])
    cdf_positive = np.searchsorted(positive, thresholds, side="right") / positive.size
    cdf_negative = np.searchsorted(negative, thresholds, side="right") / negative.size
    return float(np.max(np.abs(cdf_positive - cdf_negative)))


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of rows whose predicted label equals the true label (any label type).

    Parameters
    ----------
    y_true, y_pred:
        Labels, one per row, of the same length.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    DataError
        The two are not 1-D arrays of the same, non-zero length.
    """
    truth, predicted = np.asarray(y_true), np.asarray(y_pred)
    if truth.ndim != 1 or truth.shape != predicted.shape or truth.size == 0:
        raise DataError(
            f"accuracy needs two 1-D label arrays of the same non-zero length, got shapes "
            f"{truth.shape} and {predicted.shape}"
        )
    return float(np.mean(truth == predicted))


def binary_accuracy(y_true: Any, probability: Any, threshold: float = 0.5) -> float:
    """Accuracy of predicting 1 where ``probability >= threshold``.

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans).
    probability:
        ``P(y = 1)`` per row.
    threshold:
        Decision threshold.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    DataError
        As :func:`roc_auc`.
    """
    labels, scores = _binary_labels_and_scores(y_true, probability, "binary_accuracy")
    return float(np.mean((scores >= threshold) == labels))


def log_loss(y_true: Any, probability: Any, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of binary labels under ``probability = P(y = 1)``,
    probabilities clipped to ``[eps, 1 - eps]`` so that a confident mistake costs a large
    but finite amount.

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans).
    probability:
        ``P(y = 1)`` per row, in [0, 1].
    eps:
        Clipping bound.

    Returns
    -------
    float
        ``>= 0``; lower is better.

    Raises
    ------
    DataError
        As :func:`roc_auc`, or a probability outside [0, 1].
    """
    labels, p = _binary_labels_and_scores(y_true, probability, "log_loss")
    if p.min() < 0.0 or p.max() > 1.0:
        raise DataError("log_loss needs probabilities in [0, 1]; pass sigmoid(score)")
    clipped = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(labels, np.log(clipped), np.log1p(-clipped))))


def neg_log_loss(y_true: Any, probability: Any) -> float:
    """``-log_loss``: the log-likelihood per row, higher is better (for scorer tables).

    Parameters
    ----------
    y_true, probability:
        As :func:`log_loss`.

    Returns
    -------
    float
        ``<= 0``.

    Raises
    ------
    DataError
        As :func:`log_loss`.
    """
    return -log_loss(y_true, probability)


BINARY_SCORERS: Mapping[str, BinaryScorer] = MappingProxyType(
    {
        "auc": roc_auc,
        "ks": ks_statistic,
        "neg_log_loss": neg_log_loss,
        "accuracy": binary_accuracy,
    }
)
"""Validation scores of binary probabilities by name, each higher-is-better."""

__all__ = [
    "BINARY_SCORERS",
    "BinaryScorer",
    "accuracy",
    "binary_accuracy",
    "ks_statistic",
    "log_loss",
    "neg_log_loss",
    "roc_auc",
]
