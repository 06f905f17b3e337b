"""Losses SecureBoost minimises: their starting score, gradients, hessians and link.

Plain functions of the label party's labels and raw scores ``F`` (rows x outputs): binary
logistic loss (one output, ``P(y = 1) = sigmoid(F)``), softmax cross-entropy over K classes
(K outputs, one multi-output tree per round) and squared error (one output). Gradients and
hessians are those of XGBoost and scikit-learn's ``HistGradientBoosting``: ``g = p - y``,
``h = p (1 - p)`` for the logistic and softmax losses, ``g = F - y``, ``h = 1`` for squared
error.
"""

from __future__ import annotations

import warnings

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.secureboost.config import Objective

_EPS = 1e-15


def check_labels(labels: np.ndarray, objective: Objective, party: str) -> np.ndarray:
    """The labels as the objective needs them (float 0/1, class codes, or values).

    Raises
    ------
    DataError
        Naming the label party and the fix: labels that are not 0/1 (both present) for
        ``binary``, not class codes 0..K-1 (K >= 2) for ``multiclass``, or not finite numbers.
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise DataError(f"{party}: labels must be one value per row, got shape {y.shape}")
    try:
        values = y.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"{party}: labels must be numbers (class codes or values); encode text labels "
            "as class codes 0..K-1 first"
        ) from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"{party}: labels must be finite numbers, but {int(bad.sum())} of the "
            f"{len(values)} aligned rows have a NaN or infinite label (first at aligned row "
            f"{int(np.argmax(bad))}); drop or fill those rows (empty label cells) before "
            "training"
        )
    if objective == "binary":
        found = np.unique(values)
        if not np.isin(found, (0.0, 1.0)).all():
            shown = ", ".join(f"{v:g}" for v in found[:6]) + (" ..." if len(found) > 6 else "")
            raise DataError(
                f"{party}: objective 'binary' needs 0/1 labels, found {len(found)} distinct "
                f"values ({shown}); use objective='multiclass' for class codes 0..K-1 or "
                "objective='regression' for numeric targets"
            )
        if len(found) < 2:
            raise DataError(
                f"{party}: objective 'binary' needs both classes, but the {len(values)} "
                f"aligned row(s) (the IDs every party holds) have only {found.tolist()}; with "
                "few aligned rows, check that the parties write their IDs the same way"
            )
        return values
    if objective == "multiclass":
        if not (values == np.rint(values)).all() or values.min() < 0:
            raise DataError(
                f"{party}: objective 'multiclass' needs class codes 0..K-1; encode the "
                "classes as integers first, or use objective='regression' for numeric targets"
            )
        if int(values.max()) < 1:
            raise DataError(f"{party}: objective 'multiclass' needs at least two classes")
        present = np.unique(values)
        if len(present) != int(values.max()) + 1:
            # legitimate when a rare class fell entirely into held-out rows (a job codes the
            # classes of the whole table), else a sign of codes that are not 0..K-1
            absent = sorted(set(range(int(values.max()) + 1)) - set(present.astype(int).tolist()))
            shown = ", ".join(map(str, absent[:6])) + (" ..." if len(absent) > 6 else "")
            warnings.warn(
                f"{party}: multiclass codes {shown} have no training rows: the model keeps "
                f"an output for each of the {int(values.max()) + 1} codes, but theirs never "
                "leave their start (a near-zero probability for every row); if the classes "
                "are not coded 0..K-1, recode them (np.unique(y, return_inverse=True))",
                UserWarning,
                stacklevel=2,
            )
        return values.astype(np.int64).astype(np.float64)
    return values


def n_outputs(objective: Objective, labels: np.ndarray) -> int:
    """Raw scores per row: K for multiclass (K = largest class code + 1), else 1."""
    if objective == "multiclass":
        return int(np.max(labels)) + 1
    return 1


def initial_scores(
    objective: Objective, labels: np.ndarray, outputs: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """The constant raw score boosting starts from (one per output): log-odds of the base
    rate, log class priors, or the mean; with row ``weights`` (class weights), of the
    weighted rate and priors (the best constant model of the weighted loss)."""
    y = np.asarray(labels, dtype=np.float64)
    if objective == "binary":
        p = float(np.clip(np.average(y, weights=weights), _EPS, 1 - _EPS))
        return np.array([np.log(p / (1 - p))])
    if objective == "multiclass":
        counts = np.bincount(y.astype(np.int64), weights=weights, minlength=outputs).astype(
            np.float64
        )
        prior = np.clip(counts / counts.sum(), _EPS, 1.0)
        logs = np.log(prior)
        return np.asarray(logs - logs.mean())
    return np.array([float(y.mean())])


def link(objective: Objective, raw: np.ndarray) -> np.ndarray:
    """Predictions from raw scores (rows x outputs): P(y = 1) per row, class
    probabilities per row, or values per row."""
    raw = np.asarray(raw, dtype=np.float64)
    if objective == "binary":
        return np.asarray(1.0 / (1.0 + np.exp(-raw[:, 0])))
    if objective == "multiclass":
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))
    return np.asarray(raw[:, 0].copy())


def gradients(
    objective: Objective, labels: np.ndarray, raw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(g, h)``, each rows x outputs, of the loss at the raw scores ``raw``."""
    y = np.asarray(labels, dtype=np.float64)
    if objective == "binary":
        p = link(objective, raw)
        return (p - y)[:, None], np.maximum(p * (1.0 - p), _EPS)[:, None]
    if objective == "multiclass":
        p = link(objective, raw)
        onehot = np.zeros_like(p)
        onehot[np.arange(len(y)), y.astype(np.int64)] = 1.0
        return p - onehot, np.maximum(p * (1.0 - p), _EPS)
    return (raw[:, 0] - y)[:, None], np.ones((len(y), 1))


def loss(
    objective: Objective, labels: np.ndarray, raw: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Mean loss: log loss (binary), cross-entropy (multiclass) or squared error; with row
    ``weights`` (class weights), their weighted mean."""
    y = np.asarray(labels, dtype=np.float64)
    if not len(y):
        return float("nan")
    if objective == "binary":
        p = np.clip(link(objective, raw), _EPS, 1 - _EPS)
        return float(-np.average(y * np.log(p) + (1 - y) * np.log(1 - p), weights=weights))
    if objective == "multiclass":
        p = np.clip(link(objective, raw), _EPS, 1.0)
        picked = np.log(p[np.arange(len(y)), y.astype(np.int64)])
        return float(-np.average(picked, weights=weights))
    return float(np.mean((raw[:, 0] - y) ** 2))
