"""Tournament scoring after Numerai's published definitions: CORR, the stake-weighted meta
model, and MMC (meta model contribution). Pure functions over numpy arrays of one era.

References: Numerai docs, "Correlation (CORR)" and "Meta Model Contribution (MMC)"
(github.com/numerai/docs, numerai-tournament/scoring/), and numerai-tools
(github.com/numerai/numerai-tools, numerai_tools/scoring.py: numerai_corr,
correlation_contribution, stake_weight).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm, rankdata

from rengo.core.errors import DataError


def _vector(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size < 2:
        raise DataError(f"{name} must be a 1-D array of at least 2 rows, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name} contains NaN or Inf")
    return array


def tie_kept_rank(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Percentile rank centred in (0, 1): (rank - 0.5) / n, ties sharing their average rank."""
    array = _vector("values", values)
    return (rankdata(array, method="average") - 0.5) / array.size


def gaussianize(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Tie-kept rank mapped through the normal quantile function (mean 0, near unit std)."""
    return norm.ppf(tie_kept_rank(values))


def signed_power(values: np.ndarray, power: float = 1.5) -> np.ndarray:
    """sign(x) * |x|^power: accentuates the tails, keeping the sign."""
    return np.sign(values) * np.abs(values) ** power


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / denominator) if denominator > 0 else 0.0


def numerai_corr(
    predictions: Sequence[float] | np.ndarray, target: Sequence[float] | np.ndarray
) -> float:
    """Numerai CORR: Pearson correlation of the gaussianized predictions raised to the 1.5
    power (sign kept) with the centred target raised to the 1.5 power (sign kept).

    Constant predictions or target carry no ranking information and score 0.0.
    """
    p = _vector("predictions", predictions)
    t = _vector("target", target)
    if p.size != t.size:
        raise DataError(f"{p.size} predictions for {t.size} targets")
    return _pearson(signed_power(gaussianize(p)), signed_power(t - t.mean()))


def stake_weighted_meta_model(
    predictions: Sequence[Sequence[float] | np.ndarray], stakes: Sequence[float]
) -> np.ndarray:
    """Meta model of one era: the stake-weighted average of each submission's tie-kept rank.

    With no stake at all, submissions are weighted equally (an unstaked tournament still
    needs a reference for MMC).
    """
    if len(predictions) == 0 or len(predictions) != len(stakes):
        raise DataError(f"{len(predictions)} submissions for {len(stakes)} stakes")
    ranks = np.stack([tie_kept_rank(p) for p in predictions])
    weights = np.asarray(stakes, dtype=np.float64)
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise DataError("stakes must be finite and >= 0")
    if weights.sum() == 0:
        weights = np.ones_like(weights)
    return weights @ ranks / weights.sum()


def mmc(
    predictions: Sequence[float] | np.ndarray,
    meta_model: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
) -> float:
    """Numerai MMC: gaussianize the predictions and the meta model, keep the part of the
    predictions orthogonal to the meta model, and take its covariance with the centred
    target, (t - mean t) . p_perp / n.

    Older numerai-tools releases first multiplied a [0, 1] target by 4; we follow the docs.
    """
    p = gaussianize(predictions)
    m = gaussianize(meta_model)
    t = _vector("target", target)
    if not p.size == m.size == t.size:
        raise DataError(f"{p.size} predictions, {m.size} meta model rows, {t.size} targets")
    mm = float(np.dot(m, m))
    neutral = p - m * (float(np.dot(p, m)) / mm) if mm > 0 else p
    centred = t - t.mean()
    return float(np.dot(centred, neutral) / t.size)
