"""Evaluation metrics shared by every area: ROC AUC, average precision (the area under the
precision-recall curve), the Kolmogorov-Smirnov statistic, accuracy and log loss, and the
decision threshold reaching a target recall or precision, and calibration (the Brier score,
the expected calibration error and the reliability table behind it); for class probabilities
of K classes macro F1, the multi-class log loss and the macro one-vs-rest AUC; RMSE, MAE, R^2
and Poisson deviance for regression.

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
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from rengo.core.errors import DataError

BinaryScorer = Callable[[Any, Any], float]
"""``scorer(y_true, probability) -> float``, higher is better."""


def _binary_labels_and_scores(
    y_true: Any, score: Any, what: str, *, both_classes: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-D boolean labels and float scores of the same length (both classes
    present unless ``both_classes`` is False; at least one row either way)."""
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
    if not labels.size and not both_classes:
        raise DataError(f"{what} needs at least one row; got none")
    if both_classes and (positives == 0 or positives == labels.size):
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
    from scipy.stats import rankdata  # scipy.stats takes ~0.5 s to import: on first use

    ranks = rankdata(scores)
    u = float(ranks[labels].sum()) - positives * (positives + 1) / 2
    return u / (positives * negatives)


def _precision_recall_points(
    labels: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and threshold of predicting 1 where ``score >= threshold``, for
    every distinct score, highest threshold first (rows of tied scores enter together).

    The counts of scikit-learn's ``_binary_clf_curve``: rows sorted by score, highest first
    (a stable sort), true positives counted up to the last row of each distinct score."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_labels.size - 1]
    true_positives = np.cumsum(sorted_labels, dtype=np.float64)[last_of_each]
    predicted_positive = (last_of_each + 1).astype(np.float64)
    precision = true_positives / predicted_positive
    recall = true_positives / true_positives[-1]
    return precision, recall, sorted_scores[last_of_each]


def average_precision(y_true: Any, score: Any) -> float:
    """Average precision: the precision at each threshold weighted by the recall it adds,
    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct scores from the highest down (no
    interpolation; the summary of the precision-recall curve that scikit-learn's
    ``average_precision_score`` computes, equal to it, tied scores included).

    Under rare positives (fraud, a rare disease) ROC AUC can look good while most flagged
    rows are false alarms; average precision counts those alarms: a random ranking scores
    the positive rate, not 0.5.

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans), one per row.
    score:
        Scores, one per row; only their order matters.

    Returns
    -------
    float
        In (0, 1]; higher is better.

    Raises
    ------
    DataError
        As :func:`roc_auc`.
    """
    labels, scores = _binary_labels_and_scores(y_true, score, "average_precision")
    precision, recall, _ = _precision_recall_points(labels, scores)
    gained = np.diff(np.r_[0.0, recall])
    return float(np.sum(gained * precision))


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold and what predicting 1 at ``score >= threshold`` gives on the
    rows it was chosen on.

    Attributes
    ----------
    threshold:
        The score from which a row is predicted positive.
    precision:
        The share of rows predicted positive that are positive.
    recall:
        The share of positive rows predicted positive.
    """

    threshold: float
    precision: float
    recall: float


def _target_share(value: float, what: str) -> float:
    target = float(value)
    if not 0.0 < target <= 1.0:
        raise DataError(f"{what} must lie in (0, 1], got {value!r}")
    return target


def threshold_for_recall(y_true: Any, score: Any, recall: float) -> OperatingPoint:
    """The highest threshold whose recall reaches ``recall``, with the precision it keeps:
    the operating point a fraud team asks for ("catch 80% of frauds, with as few false
    alarms as that allows").

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans), one per row.
    score:
        Scores, one per row.
    recall:
        The recall to reach, in (0, 1] (always reachable: the lowest score flags every row).

    Returns
    -------
    OperatingPoint
        The threshold and the precision and recall predicting 1 at ``score >= threshold``
        gives on these rows (the recall may exceed the target where tied scores enter
        together).

    Raises
    ------
    DataError
        As :func:`roc_auc`, or a target outside (0, 1].
    """
    target = _target_share(recall, "threshold_for_recall: recall")
    labels, scores = _binary_labels_and_scores(y_true, score, "threshold_for_recall")
    precision, recalls, thresholds = _precision_recall_points(labels, scores)
    first = int(np.argmax(recalls >= target - 1e-12))  # recall rises as the threshold falls
    return OperatingPoint(float(thresholds[first]), float(precision[first]), float(recalls[first]))


def threshold_for_precision(y_true: Any, score: Any, precision: float) -> OperatingPoint | None:
    """The lowest threshold whose precision reaches ``precision``, with the recall it gets:
    the most positives found while at least that share of the flagged rows are positive
    ("a reviewer's alerts must be right half of the time").

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans), one per row.
    score:
        Scores, one per row.
    precision:
        The precision to keep, in (0, 1].

    Returns
    -------
    OperatingPoint or None
        The threshold and the precision and recall it gives on these rows; ``None`` when no
        threshold reaches that precision.

    Raises
    ------
    DataError
        As :func:`roc_auc`, or a target outside (0, 1].
    """
    target = _target_share(precision, "threshold_for_precision: precision")
    labels, scores = _binary_labels_and_scores(y_true, score, "threshold_for_precision")
    precisions, recall, thresholds = _precision_recall_points(labels, scores)
    reaching = np.flatnonzero(precisions >= target - 1e-12)
    if not reaching.size:
        return None
    last = int(reaching[-1])  # the lowest threshold, so the highest recall, that keeps it
    return OperatingPoint(float(thresholds[last]), float(precisions[last]), float(recall[last]))


def operating_points(
    y_true: Any,
    score: Any,
    *,
    recall: float | None = None,
    precision: float | None = None,
) -> dict[str, float]:
    """The operating points a run reports beside its ranking metrics, by metric name.

    For a target ``recall``: ``at_recall_threshold`` (:func:`threshold_for_recall`) with the
    ``at_recall_precision`` and ``at_recall_recall`` it gets; for a target ``precision``:
    ``at_precision_threshold`` (:func:`threshold_for_precision`) with its
    ``at_precision_precision`` and ``at_precision_recall`` (left out when no threshold
    keeps that precision).

    Parameters
    ----------
    y_true, score:
        As :func:`roc_auc`.
    recall, precision:
        The targets, each in (0, 1]; ``None``: not asked for.

    Returns
    -------
    dict[str, float]
        The names above to their values (empty when neither target is given).

    Raises
    ------
    DataError
        As :func:`threshold_for_recall`.
    """
    points: dict[str, OperatingPoint | None] = {}
    if recall is not None:
        points["at_recall"] = threshold_for_recall(y_true, score, recall)
    if precision is not None:
        points["at_precision"] = threshold_for_precision(y_true, score, precision)
    out: dict[str, float] = {}
    for prefix, point in points.items():
        if point is not None:
            out[f"{prefix}_threshold"] = point.threshold
            out[f"{prefix}_precision"] = point.precision
            out[f"{prefix}_recall"] = point.recall
    return out


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


def _codes_and_probabilities(y_true: Any, proba: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated class codes ``0..K-1`` (1-D) and an ``(n, K)`` probability matrix."""
    codes = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if codes.ndim != 1 or p.ndim != 2 or len(codes) != len(p) or len(codes) == 0:
        raise DataError(
            f"{what} needs n class codes and an (n, K) probability matrix, got shapes "
            f"{codes.shape} and {p.shape}; align them by row first"
        )
    wrong = ~np.isin(codes, np.arange(p.shape[1]))
    if wrong.any():
        raise DataError(
            f"{what}: labels must be class codes 0..{p.shape[1] - 1} (one per column), found "
            f"{np.unique(codes[wrong])[:5].tolist()}"
        )
    if not np.isfinite(p).all() or p.min() < 0.0 or p.max() > 1.0:
        raise DataError(f"{what} needs probabilities in [0, 1], one column per class")
    return codes.astype(np.int64), p


def macro_f1(y_true: Any, y_pred: Any) -> float:
    """The unweighted mean over classes of each class's F1 ``2 tp / (2 tp + fp + fn)``,
    over every class among the true and predicted labels (scikit-learn's
    ``f1_score(average="macro")``; a class never predicted scores 0).

    Parameters
    ----------
    y_true, y_pred:
        As :func:`accuracy`: true and predicted labels, one per row.

    Returns
    -------
    float
        In [0, 1]; 1 when every row is predicted right.

    Raises
    ------
    DataError
        As :func:`accuracy` (whose checks it runs).
    """
    accuracy(y_true, y_pred)  # the same shape checks
    truth, predicted = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for label in np.union1d(truth, predicted):
        tp = float(np.sum((truth == label) & (predicted == label)))
        fp = float(np.sum((truth != label) & (predicted == label)))
        fn = float(np.sum((truth == label) & (predicted != label)))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def multiclass_log_loss(y_true: Any, proba: Any) -> float:
    """Mean negative log-likelihood of class codes under rows of class probabilities,
    ``-mean log p[i, y_i]``, each probability clipped to ``[eps, 1 - eps]`` (``eps`` the
    float64 machine epsilon) and each row divided by its sum: scikit-learn's
    ``log_loss(y, proba, labels=range(K))`` for rows that sum to 1 (scikit-learn 1.9 no
    longer divides other rows by their sum, and warns).

    Parameters
    ----------
    y_true:
        Class codes ``0..K-1``, one per row.
    proba:
        An ``(n, K)`` matrix of class probabilities.

    Returns
    -------
    float
        ``>= 0``; lower is better.

    Raises
    ------
    DataError
        Misaligned shapes, a code without its column, or probabilities outside [0, 1].
    """
    codes, p = _codes_and_probabilities(y_true, proba, "multiclass_log_loss")
    eps = float(np.finfo(np.float64).eps)
    clipped = np.clip(p, eps, 1.0 - eps)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(clipped[np.arange(len(codes)), codes])))


def macro_ovr_auc(y_true: Any, proba: Any) -> float:
    """The unweighted mean over classes of each class's ROC AUC against the rest
    (:func:`roc_auc` of ``y == k`` by column k), over the classes the labels hold:
    scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")`` when every class is
    present and rows sum to 1 (scikit-learn gives NaN when a class has no row, and refuses
    rows that do not sum to 1; only each column's order matters here).

    Parameters
    ----------
    y_true:
        Class codes ``0..K-1``, one per row.
    proba:
        An ``(n, K)`` matrix of class probabilities, in [0, 1].

    Returns
    -------
    float
        In [0, 1]; 0.5 is a random ranking.

    Raises
    ------
    DataError
        Misaligned shapes, a code without its column, or fewer than two classes present.
    """
    codes, p = _codes_and_probabilities(y_true, proba, "macro_ovr_auc")
    present = np.unique(codes)
    if len(present) < 2:
        raise DataError(
            f"macro_ovr_auc needs rows of at least two classes; all {len(codes)} are "
            f"class {present.tolist()}"
        )
    return float(np.mean([roc_auc(codes == k, p[:, k]) for k in present]))


def _probabilities(y_true: Any, probability: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated labels and probabilities in [0, 1] (one class is enough: calibration is
    defined on a set of rows that are all negatives)."""
    labels, p = _binary_labels_and_scores(y_true, probability, what, both_classes=False)
    if p.min() < 0.0 or p.max() > 1.0:
        raise DataError(
            f"{what} needs probabilities in [0, 1], found {float(p.min())!r}.."
            f"{float(p.max())!r}; pass P(y = 1), e.g. sigmoid(score)"
        )
    return labels, p


def brier_score(y_true: Any, probability: Any) -> float:
    """Brier score: the mean squared difference between ``P(y = 1)`` and the outcome,
    ``mean((p - y)^2)`` (Brier 1950; equals scikit-learn's ``brier_score_loss``). It rewards
    both ranking and calibration: a model that says 0.3 for a group of which 30% default
    scores better than one that says 0.9 with the same ranking.

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans), one per row.
    probability:
        ``P(y = 1)`` per row, in [0, 1].

    Returns
    -------
    float
        In [0, 1]; 0 for certain, correct predictions, 0.25 for always saying 0.5; lower is
        better.

    Raises
    ------
    DataError
        Shapes differ or are not 1-D, no rows, a label is not 0/1, or a probability is
        NaN, infinite or outside [0, 1].
    """
    labels, p = _probabilities(y_true, probability, "brier_score")
    return float(np.mean((p - labels) ** 2))


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability table: the rows whose predicted probability lies in
    ``[lower, upper)`` (the last bin includes 1.0).

    Attributes
    ----------
    lower, upper:
        The bin's probability range.
    rows:
        How many rows fell in it.
    mean_probability:
        Their mean predicted ``P(y = 1)`` (``None`` for an empty bin).
    observed_rate:
        The share of them that are positive (``None`` for an empty bin).
    """

    lower: float
    upper: float
    rows: int
    mean_probability: float | None
    observed_rate: float | None

    @property
    def gap(self) -> float | None:
        """``observed_rate - mean_probability``: positive where the model under-predicts
        (more defaults than it said), ``None`` for an empty bin."""
        if self.mean_probability is None or self.observed_rate is None:
            return None
        return self.observed_rate - self.mean_probability


DEFAULT_CALIBRATION_BINS = 10
"""Equal-width bins of [0, 1] the calibration error and reliability table use by default."""


def reliability_table(
    y_true: Any, probability: Any, bins: int = DEFAULT_CALIBRATION_BINS
) -> list[ReliabilityBin]:
    """The reliability diagram as a table: ``bins`` equal-width bins of [0, 1], each with
    its row count, mean predicted probability and observed positive rate (DeGroot and
    Fienberg 1983; Niculescu-Mizil and Caruana 2005). Bin ``b`` holds ``b / bins <= p <
    (b + 1) / bins``, the last bin ``p = 1`` too; a calibrated model's mean probability
    equals its observed rate in every bin.

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans), one per row.
    probability:
        ``P(y = 1)`` per row, in [0, 1].
    bins:
        The number of bins, at least 1.

    Returns
    -------
    list[ReliabilityBin]
        Every bin, lowest first, empty ones included (``rows == 0``).

    Raises
    ------
    DataError
        As :func:`brier_score`, or ``bins < 1``.
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise DataError(f"reliability_table: bins must be a whole number >= 1, got {bins!r}")
    labels, p = _probabilities(y_true, probability, "reliability_table")
    edges = np.arange(bins + 1) / bins  # the bins' lower edges as ReliabilityBin gives them
    # bin b holds edges[b] <= p < edges[b + 1] (p * bins can round up past an edge: 0.8999...
    # * 10 is 9.0); p = 1 joins the last bin
    which = np.minimum(np.searchsorted(edges, p, side="right") - 1, bins - 1)
    rows = np.bincount(which, minlength=bins)
    probability_sums = np.bincount(which, weights=p, minlength=bins)
    positives = np.bincount(which, weights=labels.astype(np.float64), minlength=bins)
    table = []
    for b in range(bins):
        n = int(rows[b])
        table.append(
            ReliabilityBin(
                lower=b / bins,
                upper=(b + 1) / bins,
                rows=n,
                mean_probability=float(probability_sums[b] / n) if n else None,
                observed_rate=float(positives[b] / n) if n else None,
            )
        )
    return table


def expected_calibration_error(
    y_true: Any, probability: Any, bins: int = DEFAULT_CALIBRATION_BINS
) -> float:
    """Expected calibration error: the row-weighted mean gap between predicted probability
    and observed rate over the bins of :func:`reliability_table`,
    ``ECE = sum_b (n_b / N) |observed_rate_b - mean_probability_b|`` (Naeini, Cooper and
    Hauskrecht 2015; Guo et al. 2017). Binning: ``bins`` equal-width bins of [0, 1] (10 by
    default), a probability of exactly 1 in the last; empty bins weigh nothing. Compare
    ECEs only at the same ``bins``: the estimate depends on it.

    Parameters
    ----------
    y_true:
        Labels in {0, 1} (or booleans), one per row.
    probability:
        ``P(y = 1)`` per row, in [0, 1].
    bins:
        The number of equal-width bins, at least 1.

    Returns
    -------
    float
        In [0, 1]; 0 when every bin's mean probability equals its observed rate; lower is
        better.

    Raises
    ------
    DataError
        As :func:`reliability_table`.
    """
    table = reliability_table(y_true, probability, bins)
    gaps = [(b.rows, abs(gap)) for b in table if (gap := b.gap) is not None]
    return float(sum(rows * gap for rows, gap in gaps) / sum(rows for rows, _ in gaps))


def calibration(
    y_true: Any, probability: Any, bins: int = DEFAULT_CALIBRATION_BINS
) -> dict[str, float]:
    """The calibration metrics a run records for a binary model, by name: ``brier``
    (:func:`brier_score`) and ``ece`` (:func:`expected_calibration_error` over ``bins``
    equal-width bins), both lower-is-better.

    Parameters
    ----------
    y_true, probability, bins:
        As :func:`expected_calibration_error`.

    Returns
    -------
    dict[str, float]
        ``{"brier": ..., "ece": ...}``.

    Raises
    ------
    DataError
        As :func:`reliability_table`.
    """
    return {
        "brier": brier_score(y_true, probability),
        "ece": expected_calibration_error(y_true, probability, bins),
    }


def reliability_records(table: list[ReliabilityBin]) -> list[dict[str, float | int | None]]:
    """A reliability table as JSON-ready rows (what a run store keeps): each bin's
    ``lower``, ``upper``, ``rows``, ``mean_probability`` and ``observed_rate``.

    Parameters
    ----------
    table:
        From :func:`reliability_table`.

    Returns
    -------
    list[dict]
        One dict per bin, lowest first.
    """
    return [
        {
            "lower": b.lower,
            "upper": b.upper,
            "rows": b.rows,
            "mean_probability": b.mean_probability,
            "observed_rate": b.observed_rate,
        }
        for b in table
    ]


BINARY_SCORERS: Mapping[str, BinaryScorer] = MappingProxyType(
    {
        "auc": roc_auc,
        "ks": ks_statistic,
        "neg_log_loss": neg_log_loss,
        "accuracy": binary_accuracy,
    }
)
"""Validation scores of binary probabilities by name, each higher-is-better."""


def _regression_pair(y_true: Any, y_pred: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-D finite float targets and predictions of the same, non-zero length."""
    try:
        truth = np.asarray(y_true, dtype=np.float64)
        predicted = np.asarray(y_pred, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} needs numeric targets and predictions ({exc})") from exc
    if truth.ndim != 1 or truth.shape != predicted.shape or truth.size == 0:
        raise DataError(
            f"{what} needs two 1-D arrays of the same non-zero length, got shapes "
            f"{truth.shape} and {predicted.shape}; align them by row first"
        )
    for name, values in (("targets", truth), ("predictions", predicted)):
        if not np.isfinite(values).all():
            raise DataError(f"{what}: {int((~np.isfinite(values)).sum())} {name} are NaN/inf")
    return truth, predicted


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error ``sqrt(mean((y - y_hat)^2))``.

    Parameters
    ----------
    y_true, y_pred:
        Targets and predictions, one per row.

    Returns
    -------
    float
        ``>= 0``; lower is better.

    Raises
    ------
    DataError
        Shapes differ, are not 1-D or empty, or a value is NaN/inf.
    """
    truth, predicted = _regression_pair(y_true, y_pred, "rmse")
    return float(np.sqrt(np.mean((truth - predicted) ** 2)))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error ``mean(|y - y_hat|)``.

    Parameters
    ----------
    y_true, y_pred:
        Targets and predictions, one per row.

    Returns
    -------
    float
        ``>= 0``; lower is better.

    Raises
    ------
    DataError
        As :func:`rmse`.
    """
    truth, predicted = _regression_pair(y_true, y_pred, "mae")
    return float(np.mean(np.abs(truth - predicted)))


def r2_score(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (equals scikit-learn's
    ``r2_score``; constant targets give 1.0 for a perfect fit and 0.0 otherwise, as there).

    Parameters
    ----------
    y_true, y_pred:
        Targets and predictions, one per row.

    Returns
    -------
    float
        ``<= 1``; 0 is the mean's score, higher is better.

    Raises
    ------
    DataError
        As :func:`rmse`.
    """
    truth, predicted = _regression_pair(y_true, y_pred, "r2_score")
    residual = float(np.sum((truth - predicted) ** 2))
    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _row_weights(sample_weight: Any, rows: int, what: str) -> np.ndarray | None:
    """Validated non-negative finite weights, one per row, not all zero (``None``: none)."""
    if sample_weight is None:
        return None
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} needs numeric sample weights ({exc})") from exc
    if weights.shape != (rows,):
        raise DataError(f"{what}: {weights.shape} sample weights for {rows} rows")
    if not (np.isfinite(weights) & (weights >= 0)).all() or not weights.sum() > 0:
        raise DataError(f"{what} needs finite non-negative sample weights, not all zero")
    return weights


def _poisson_pair(y_true: Any, y_pred: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated non-negative targets and positive predicted means."""
    truth, mu = _regression_pair(y_true, y_pred, what)
    if (truth < 0).any():
        raise DataError(f"{what} needs non-negative targets (counts)")
    if (mu <= 0).any():
        raise DataError(f"{what} needs positive predicted means; pass exp(score)")
    return truth, mu


def _unit_poisson_deviance(truth: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """``2 (y log(y / mu) - y + mu)`` per row, with ``y log y = 0`` at ``y = 0``."""
    safe = np.where(truth > 0, truth, 1.0)
    log_term = np.where(truth > 0, truth * np.log(safe / mu), 0.0)
    deviance: np.ndarray = 2.0 * (log_term - truth + mu)
    return deviance


def poisson_deviance(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """Mean Poisson deviance ``mean(2 (y log(y / mu) - y + mu))``, with ``y log y = 0`` at
    ``y = 0`` (equals scikit-learn's ``mean_poisson_deviance``, weights included).

    For claim frequencies ``y / exposure`` and predicted rates, pass
    ``sample_weight=exposure`` (as scikit-learn's Poisson regression example does): that
    is ``sum(deviance of the counts) / sum(exposure)``, the normalisation of
    :meth:`rengo.vfl.HeteroPoissonRegression.score` and of a hetero Poisson run's held-out
    ``poisson_deviance``.

    Parameters
    ----------
    y_true:
        Non-negative targets (counts or frequencies), one per row.
    y_pred:
        Predicted means ``mu > 0``, one per row.
    sample_weight:
        Non-negative weight of each row, keyword only: the weighted mean
        ``sum(w d) / sum(w)`` (scikit-learn's); ``None``: equal weights.

    Returns
    -------
    float
        ``>= 0``; 0 for a perfect fit, lower is better.

    Raises
    ------
    DataError
        As :func:`rmse`, a negative target, a non-positive prediction or bad weights.
    """
    truth, mu = _poisson_pair(y_true, y_pred, "poisson_deviance")
    weights = _row_weights(sample_weight, len(truth), "poisson_deviance")
    return float(np.average(_unit_poisson_deviance(truth, mu), weights=weights))


def d2_poisson_score(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """The fraction of Poisson deviance explained, ``D^2 = 1 - D(y, mu) / D(y, mean y)``
    (the null model predicts the weighted mean target; equals scikit-learn's
    ``d2_tweedie_score(power=1)``, weights included; constant targets give 1.0 for a
    perfect fit and 0.0 otherwise, as :func:`r2_score`, where scikit-learn divides by 0).

    Parameters
    ----------
    y_true, y_pred, sample_weight:
        As :func:`poisson_deviance` (pass ``sample_weight=exposure`` with frequencies).

    Returns
    -------
    float
        ``<= 1``; 0 is the constant model's score, higher is better (NaN for fewer than
        two rows, as scikit-learn's).

    Raises
    ------
    DataError
        As :func:`poisson_deviance`.
    """
    truth, mu = _poisson_pair(y_true, y_pred, "d2_poisson_score")
    weights = _row_weights(sample_weight, len(truth), "d2_poisson_score")
    if len(truth) < 2:
        return float("nan")
    fitted = float(np.average(_unit_poisson_deviance(truth, mu), weights=weights))
    null_mean = np.full_like(truth, np.average(truth, weights=weights))
    null = float(np.average(_unit_poisson_deviance(truth, null_mean), weights=weights))
    if null == 0.0:
        return 1.0 if fitted == 0.0 else 0.0
    return 1.0 - fitted / null


@dataclass(frozen=True)
class LorenzCurve:
    """The actuarial Lorenz curve of a frequency model: policies grouped by predicted
    frequency from the lowest up, the share of exposure (``exposure``) against the share of
    claims (``claims``) observed up to each group, both from 0 at the origin to 1.

    Parameters
    ----------
    exposure
        The cumulative share of exposure after each distinct prediction (one point more
        than there are distinct predictions, from 0 to 1).
    claims
        The cumulative share of claims after each distinct prediction (as ``exposure``).
    """

    exposure: np.ndarray
    claims: np.ndarray

    @property
    def gini(self) -> float:
        """``1 - 2 * area under the curve`` (trapezoids, from the origin): 0 for a model
        that ranks no better than chance, larger the better it separates risks."""
        area = float(np.sum(np.diff(self.exposure) * (self.claims[1:] + self.claims[:-1]) / 2))
        return 1.0 - 2.0 * area


def lorenz_curve(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> LorenzCurve:
    """The Lorenz curve of a frequency model, as in scikit-learn's "Poisson regression and
    non-normal loss" example: cumulative exposure against cumulative claims, the policies
    ordered by predicted frequency, the riskiest last.

    Takes the same arguments as :func:`poisson_deviance` and :func:`d2_poisson_score`:
    the observed **frequencies** ``claims / exposure`` and ``sample_weight=exposure`` (a
    row's claims are ``y_true * sample_weight``). Without weights every row is one unit of
    exposure and ``y_true`` its claim count.

    Policies with the same prediction are pooled into one point (their claims and exposure
    summed), so the curve runs straight across a tie and does not depend on the rows'
    order: a model that predicts one value for everyone has a Gini of exactly 0, a tariff
    of a few levels the same Gini however the file is sorted. Any strictly increasing
    transform of the predictions (rates, log rates, expected counts at one exposure) gives
    the same curve. The example's curve starts at its first row; this one starts at the
    origin.

    Parameters
    ----------
    y_true:
        Each row's observed frequency, claims per unit of exposure (non-negative); with no
        ``sample_weight``, its claim count.
    y_pred:
        Each row's predicted frequency, or any score increasing in it.
    sample_weight:
        Each row's exposure (positive), keyword only; ``None``: one unit each.

    Returns
    -------
    LorenzCurve
        The curve (one point per distinct prediction, and the origin) and its
        :attr:`~LorenzCurve.gini`.

    Raises
    ------
    DataError
        As :func:`rmse`, a negative frequency, no claims at all, or an exposure that is
        not positive.
    """
    frequency, score = _regression_pair(y_true, y_pred, "lorenz_curve")
    if (frequency < 0).any():
        raise DataError("lorenz_curve needs non-negative frequencies (claims per exposure)")
    given = _row_weights(sample_weight, len(frequency), "lorenz_curve")
    exposure = np.ones_like(frequency) if given is None else given
    if not (exposure > 0).all():
        raise DataError("lorenz_curve needs positive exposures (sample_weight)")
    claims = frequency * exposure
    if not claims.sum() > 0:
        raise DataError("lorenz_curve needs some claims: every frequency is 0")
    levels, level_of_row = np.unique(score, return_inverse=True)
    pooled_claims = np.bincount(level_of_row, weights=claims, minlength=len(levels))
    pooled_exposure = np.bincount(level_of_row, weights=exposure, minlength=len(levels))
    cumulative_claims = np.concatenate([[0.0], np.cumsum(pooled_claims)])
    cumulative_exposure = np.concatenate([[0.0], np.cumsum(pooled_exposure)])
    return LorenzCurve(
        cumulative_exposure / cumulative_exposure[-1], cumulative_claims / cumulative_claims[-1]
    )


def gini_coefficient(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """The actuarial Gini coefficient of a frequency model: ``1 - 2 * area`` under its
    :func:`lorenz_curve` (policies ordered by predicted frequency, ties pooled, weighted by
    exposure).

    Called like :func:`poisson_deviance`: ``gini_coefficient(claims / exposure,
    predicted_rate, sample_weight=exposure)``.

    Parameters
    ----------
    y_true:
        Each row's observed frequency ``claims / exposure`` (with no ``sample_weight``:
        its claim count).
    y_pred:
        Each row's predicted frequency, or any score increasing in it.
    sample_weight:
        Each row's exposure (positive), keyword only; ``None``: one unit each.

    Returns
    -------
    float
        About 0 for a model that ranks at random, exactly 0 for one that predicts the same
        for everyone, at most the Gini of ranking by the observed frequencies; higher is
        better.

    Raises
    ------
    DataError
        As :func:`lorenz_curve`.
    """
    return lorenz_curve(y_true, y_pred, sample_weight=sample_weight).gini


FREQUENCY_METRICS = ("poisson_deviance", "d2_poisson", "gini", "rmse", "mae")
"""The names :func:`frequency_metrics` returns, in order."""


def frequency_metrics(counts: Any, rates: Any, exposure: Any = None) -> dict[str, float]:
    """What an actuary reads of a claim-frequency model on held-out policies (scikit-learn's
    "Poisson regression and non-normal loss" example): the mean Poisson deviance and D^2 of
    the frequencies ``counts / exposure`` weighted by exposure (the deviance is then
    ``sum(d(y, e r)) / sum(e)``), the Gini coefficient of the ranking by predicted rate
    weighted by exposure, and RMSE and MAE of the counts against their expected counts
    ``exposure * rates``. Without an exposure every row is one unit: the same figures of
    the counts and predicted means, unweighted.

    Parameters
    ----------
    counts
        Observed counts (non-negative; need not be whole), one per row.
    rates
        Predicted rates (the expected count per unit of exposure, positive), one per row.
    exposure
        Each row's exposure (positive), or None.

    Returns
    -------
    dict
        ``poisson_deviance``, ``d2_poisson``, ``gini`` (left out where every count is 0:
        no claims to order), ``rmse``, ``mae`` (:data:`FREQUENCY_METRICS`).

    Raises
    ------
    DataError
        As :func:`poisson_deviance`.
    """
    truth = np.asarray(counts, dtype=np.float64)
    rate = np.asarray(rates, dtype=np.float64)
    weights = None if exposure is None else np.asarray(exposure, dtype=np.float64)
    frequency = truth if weights is None else truth / weights
    expected = rate if weights is None else weights * rate
    scores = {
        "poisson_deviance": poisson_deviance(frequency, rate, sample_weight=weights),
        "d2_poisson": d2_poisson_score(frequency, rate, sample_weight=weights),
        "gini": (
            gini_coefficient(frequency, rate, sample_weight=weights) if truth.sum() > 0 else None
        ),
        "rmse": rmse(truth, expected),
        "mae": mae(truth, expected),
    }
    return {name: float(value) for name, value in scores.items() if value is not None}


def neg_poisson_deviance(y_true: Any, y_pred: Any) -> float:
    """``-poisson_deviance``: higher is better (Poisson regression's ``score``).

    Parameters
    ----------
    y_true, y_pred:
        As :func:`poisson_deviance`.

    Returns
    -------
    float
        ``<= 0``.

    Raises
    ------
    DataError
        As :func:`poisson_deviance`.
    """
    return -poisson_deviance(y_true, y_pred)


def neg_rmse(y_true: Any, y_pred: Any) -> float:
    """``-rmse``: higher is better (for scorer tables).

    Parameters
    ----------
    y_true, y_pred:
        As :func:`rmse`.

    Returns
    -------
    float
        ``<= 0``.

    Raises
    ------
    DataError
        As :func:`rmse`.
    """
    return -rmse(y_true, y_pred)


REGRESSION_SCORERS: Mapping[str, BinaryScorer] = MappingProxyType(
    {"r2": r2_score, "neg_rmse": neg_rmse, "neg_poisson_deviance": neg_poisson_deviance}
)
"""Validation scores of predicted values by name, each higher-is-better."""

LOWER_IS_BETTER = (
    "loss",
    "error",
    "rmse",
    "mse",
    "mae",
    "deviance",
    "epsilon",
    "norm",
    "seconds",
    "time",
    "bytes",
    "brier",
    "ece",
)
"""Tokens of metric names for which a smaller value is better. A norm counts as one: the
coordinator's ``update_norm`` is a diagnostic, and its "worst" clients are the largest
updates - the ones a robust rule clips and an operator looks at first."""


OPERATING_POINTS = ("threshold",)
"""Tokens of metric names that are operating points, not scores: a decision threshold
(``test_at_recall_threshold``) is chosen for a target, so neither a smaller nor a larger one
is better (:func:`better_direction`)."""


def better_direction(metric: str) -> Literal["lower", "higher"] | None:
    """Which way the metric named ``metric`` is better: ``"lower"`` (:func:`lower_is_better`),
    ``"higher"``, or None for an operating point (a ``*_threshold``: the decision threshold
    that meets a target recall or precision), which no run or round is better at.

    What a model card's "better" column says, and why ``rengo runs compare`` and early
    stopping ask which way to rank such a metric instead of guessing.

    Parameters
    ----------
    metric
        A metric's name as recorded.

    Returns
    -------
    str or None
        ``"lower"``, ``"higher"`` or None.
    """
    tokens = metric.lower().replace("-", "_").split("_")
    if any(token in OPERATING_POINTS for token in tokens):
        return None
    return "lower" if lower_is_better(metric) else "higher"


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of the metric named ``metric`` is better: a loss, an error,
    ``central_rmse``, ``dp_epsilon``, a Brier score or calibration error (``test_brier``,
    ``central_ece``), an update norm, a time or a byte count (one of the
    :data:`LOWER_IS_BETTER` tokens among its ``_``-separated words), but not a negated one
    (``neg_rmse``, ``neg_log_loss``: scores made higher-is-better), nor accuracy, AUC or R^2.

    What the dashboard calls a run's best round, what ``rengo runs compare`` ranks by and
    which way early stopping (:class:`rengo.hfl.EarlyStopping`) watches a metric.

    Parameters
    ----------
    metric
        A metric's name as recorded (``central_loss``, ``eval_r2``, ``bytes_sent``...).

    Returns
    -------
    bool
        True when a smaller value is better.
    """
    tokens = metric.lower().replace("-", "_").split("_")
    if "neg" in tokens:
        return False
    return any(token in LOWER_IS_BETTER for token in tokens)


__all__ = [
    "BINARY_SCORERS",
    "DEFAULT_CALIBRATION_BINS",
    "FREQUENCY_METRICS",
    "LOWER_IS_BETTER",
    "OPERATING_POINTS",
    "REGRESSION_SCORERS",
    "BinaryScorer",
    "LorenzCurve",
    "OperatingPoint",
    "ReliabilityBin",
    "accuracy",
    "average_precision",
    "better_direction",
    "binary_accuracy",
    "brier_score",
    "calibration",
    "d2_poisson_score",
    "expected_calibration_error",
    "frequency_metrics",
    "gini_coefficient",
    "ks_statistic",
    "log_loss",
    "lorenz_curve",
    "lower_is_better",
    "macro_f1",
    "macro_ovr_auc",
    "mae",
    "multiclass_log_loss",
    "neg_log_loss",
    "neg_poisson_deviance",
    "neg_rmse",
    "operating_points",
    "poisson_deviance",
    "r2_score",
    "reliability_records",
    "reliability_table",
    "rmse",
    "roc_auc",
    "threshold_for_precision",
    "threshold_for_recall",
]
