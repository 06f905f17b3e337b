"""Tournament scoring with numerai-tools' definitions: CORR, the stake-weighted meta model,
MMC (meta model contribution), neutralisation and feature-neutral CORR. Pure functions over
numpy arrays of one era.

Every function computes what numerai-tools 0.7.2 (github.com/numerai/numerai-tools,
``numerai_tools/scoring.py``) computes, and the test suite checks it against the installed
library to 1e-9: ``numerai_corr``, ``correlation_contribution`` (our :func:`mmc`),
``stake_weight`` (our :func:`stake_weighted_meta_model`), ``neutralize`` and
``feature_neutral_corr``. Where a score is undefined, numerai-tools returns NaN and so do we:

* CORR of constant predictions (or of a constant target): Pearson correlation of a constant
  is 0 / 0.
* MMC against a constant meta model (all staked submissions constant in the era, or
  submissions whose stake-weighted mean is flat, e.g. ``p`` and ``1 - p`` with equal
  stakes): there is no direction to be orthogonal to, the projection is 0 / 0.
* MMC with no staked submission: the meta model itself is undefined
  (:func:`stake_weighted_meta_model` raises).

How a tournament pays an undefined score is the round's policy, not the score's:
:func:`rengo.tournament.score_round` counts it as 0 and records which scores were undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rengo.core.errors import DataError
from rengo.core.parameters import reproducible_dot

SCORING_VERSION = "numerai-tools-0.7.2"
"""The reference whose definitions these functions reproduce (recorded with every round)."""

LSTSQ_RCOND = 1e-6
"""Singular values below this fraction of the largest are dropped when neutralising
(numerai-tools' ``rcond``): collinear or constant features do not blow the projection up."""


def checked_vector(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as a float64 vector of at least 2 finite values, or a ``DataError`` naming
    ``name``."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size < 2:
        raise DataError(f"{name} must be a 1-D array of at least 2 rows, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name} contains NaN or Inf")
    return array


def _same_length(**arrays: np.ndarray) -> None:
    sizes = {name: len(a) for name, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        described = ", ".join(f"{size} {name}" for name, size in sizes.items())
        raise DataError(f"rows differ in length: {described}")


def tie_kept_rank(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Percentile rank centred in (0, 1): (rank - 0.5) / n, ties sharing their average rank.

    Parameters
    ----------
    values
        One era's values (at least 2, finite).

    Returns
    -------
    numpy.ndarray
        The ranks, in the input's order.
    """
    from scipy.stats import rankdata  # scipy.stats takes ~0.5 s to import: on first use

    array = checked_vector("values", values)
    ranks = np.asarray(rankdata(array, method="average"), dtype=np.float64)
    return (ranks - 0.5) / array.size


def gaussianize(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Tie-kept rank mapped through the normal quantile function (mean 0, near unit std).

    Parameters
    ----------
    values
        One era's values (at least 2, finite).

    Returns
    -------
    numpy.ndarray
        ``Phi^-1(tie_kept_rank(values))``.
    """
    from scipy.stats import norm

    return np.asarray(norm.ppf(tie_kept_rank(values)), dtype=np.float64)


def signed_power(values: np.ndarray, power: float = 1.5) -> np.ndarray:
    """sign(x) * |x|^power: accentuates the tails, keeping the sign."""
    return np.asarray(np.sign(values) * np.abs(values) ** power, dtype=np.float64)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (as pandas' ``Series.corr``)."""
    a = a - a.mean()
    b = b - b.mean()
    if not np.any(a) or not np.any(b):
        return math.nan
    r = reproducible_dot(a, b) / math.sqrt(reproducible_dot(a, a) * reproducible_dot(b, b))
    return min(1.0, max(-1.0, r))


def numerai_corr(
    predictions: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
    *,
    target_pow15: bool = True,
) -> float:
    """Numerai CORR (numerai-tools ``numerai_corr``): Pearson correlation of the gaussianized
    predictions raised to the 1.5 power (sign kept) with the centred target, itself raised
    to the 1.5 power unless ``target_pow15`` is False (for targets that are returns).

    Parameters
    ----------
    predictions, target
        One era's predictions and resolved targets, row for row.
    target_pow15
        Raise the centred target to the 1.5 power (sign kept), numerai-tools' default.

    Returns
    -------
    float
        The correlation in [-1, 1]; NaN when the predictions or the target are constant
        (undefined, as in numerai-tools).

    Raises
    ------
    DataError
        Fewer than 2 rows, rows of different lengths, or NaN/Inf values.
    """
    p = checked_vector("predictions", predictions)
    t = checked_vector("target", target)
    _same_length(predictions=p, targets=t)
    return corr_of_gaussianized(gaussianize(p), corr_target(t, target_pow15))


def corr_target(target: np.ndarray, target_pow15: bool) -> np.ndarray:
    """What CORR correlates the predictions with: the centred target, raised to the 1.5
    power (sign kept) when ``target_pow15``."""
    centred = target - target.mean()
    return signed_power(centred) if target_pow15 else centred


def corr_of_gaussianized(gaussianized: np.ndarray, centred_target: np.ndarray) -> float:
    """CORR from gaussianized predictions and ``centred_target`` (:func:`corr_target`'s);
    a round computes each once per era and submission, not once per score."""
    return _pearson(signed_power(gaussianized), centred_target)


def stake_weighted_meta_model(
    predictions: Sequence[Sequence[float] | np.ndarray], stakes: Sequence[float]
) -> np.ndarray:
    """Meta model of one era (numerai-tools ``stake_weight``): the stake-weighted mean of
    the staked submissions' raw predictions, sum(s_k p_k) / sum(s_k).

    Only submissions with a positive stake enter, so a zero-stake submission changes
    nothing. Each row sums the products ``s_k p_k`` one submission after another in the
    order given, as numerai-tools' pandas row sum does, so the meta model equals
    ``stake_weight``'s bit for bit when both get the submissions in the same order
    (:func:`~rengo.tournament.score_round` passes them sorted by name). The last bit of a
    row then depends on that order, in both libraries; it matters because MMC ranks the
    meta model with ties kept: two rows equal in exact arithmetic may differ in their
    rounding, and a correctly rounded sum (which would tie them) moved MMC by up to 1e-3
    against numerai-tools' on predictions in steps of 0.01.

    Parameters
    ----------
    predictions
        One era's predictions of each submission (same length).
    stakes
        Each submission's stake (>= 0, any unit).

    Returns
    -------
    numpy.ndarray
        The meta model, one value per row.

    Raises
    ------
    DataError
        Mismatched counts or lengths, negative or non-finite stakes, or no positive stake
        (the meta model is undefined; numerai-tools returns NaN there).
    """
    if len(predictions) == 0 or len(predictions) != len(stakes):
        raise DataError(f"{len(predictions)} submissions for {len(stakes)} stakes")
    weights = np.asarray(stakes, dtype=np.float64)
    if weights.ndim != 1 or np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise DataError("stakes must be finite and >= 0")
    staked = np.flatnonzero(weights > 0)
    if staked.size == 0:
        raise DataError(
            "no submission is staked: the meta model (stake-weighted mean of staked "
            "submissions) is undefined"
        )
    rows = [checked_vector(f"predictions of submission {k}", predictions[int(k)]) for k in staked]
    if len({r.size for r in rows}) != 1:
        raise DataError("every submission must cover the same rows")
    products = np.stack(rows) * weights[staked][:, None]
    row_sums = products[0].copy()
    for submission in products[1:]:  # numerai-tools' order of addition, left to right
        row_sums += submission
    meta: np.ndarray = row_sums / float(np.sum(weights))  # all stakes, as pandas sums them
    return meta


def mmc(
    predictions: Sequence[float] | np.ndarray,
    meta_model: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
) -> float:
    """Numerai MMC (numerai-tools ``correlation_contribution``): gaussianize the
    predictions and the meta model, keep the part of the predictions orthogonal to the
    meta model, and take its covariance with the centred target, (t - mean t) . p_perp / n.

    A target whose values all lie in [0, 1] (Numerai's five levels) is first multiplied by
    4, to the buckets [-2, 2] after centring, as numerai-tools 0.7.2 does; other targets are
    only centred. MMC values are therefore 4x the plain covariance with a [0, 1] target.

    Parameters
    ----------
    predictions, meta_model, target
        One era's predictions, meta model and resolved targets, row for row.

    Returns
    -------
    float
        The contribution; NaN when the meta model is constant (undefined, as in
        numerai-tools).

    Raises
    ------
    DataError
        Fewer than 2 rows, rows of different lengths, or NaN/Inf values.
    """
    p = gaussianize(predictions)
    m = gaussianize(meta_model)
    t = checked_vector("target", target)
    _same_length(predictions=p, meta_model_rows=m, targets=t)
    return mmc_of_gaussianized(p, m, mmc_target(t))


def mmc_target(target: np.ndarray) -> np.ndarray:
    """What MMC takes the covariance with: the target, x4 when it lies in [0, 1], centred."""
    if np.all((target >= 0) & (target <= 1)):
        target = target * 4
    centred: np.ndarray = target - target.mean()
    return centred


def mmc_of_gaussianized(
    gaussianized: np.ndarray, gaussianized_meta: np.ndarray, centred_target: np.ndarray
) -> float:
    """MMC from gaussianized predictions and meta model and ``centred_target``
    (:func:`mmc_target`'s); NaN when the meta model is constant (a round computes each
    input once per era)."""
    mm = reproducible_dot(gaussianized_meta, gaussianized_meta)
    if mm == 0.0:
        return math.nan
    neutral = gaussianized - gaussianized_meta * (
        reproducible_dot(gaussianized, gaussianized_meta) / mm
    )
    return reproducible_dot(centred_target, neutral) / centred_target.size


def neutralize(
    values: Sequence[float] | np.ndarray,
    neutralizers: np.ndarray,
    proportion: float = 1.0,
) -> np.ndarray:
    """Subtract ``proportion`` of each column's least-squares projection onto the
    neutralizers and a constant (numerai-tools ``neutralize``).

    ``values - proportion * X @ lstsq(X, values)`` with X the neutralizers plus a column of
    ones; ``proportion=1`` leaves the part orthogonal to every neutralizer, ``0`` changes
    nothing. A constant column of ``values`` comes back as NaN, as in numerai-tools.

    Parameters
    ----------
    values
        One era's values, shape (rows,) or (rows, columns).
    neutralizers
        Shape (rows, k): the features (or other exposures) to remove.
    proportion
        How much of the projection to remove, in [0, 1].

    Returns
    -------
    numpy.ndarray
        The neutralised values, the shape of ``values``.

    Raises
    ------
    DataError
        Shapes that do not match, NaN/Inf values, or a proportion outside [0, 1].
    """
    array = np.asarray(values, dtype=np.float64)
    one_column = array.ndim == 1
    matrix = array.reshape(-1, 1) if one_column else array
    exposures = np.asarray(neutralizers, dtype=np.float64)
    if exposures.ndim == 1:
        exposures = exposures.reshape(-1, 1)
    if matrix.ndim != 2 or exposures.ndim != 2 or matrix.shape[0] != exposures.shape[0]:
        raise DataError(
            f"values of shape {array.shape} and neutralizers of shape "
            f"{np.shape(neutralizers)} must have the same rows"
        )
    if matrix.shape[0] < 2:
        raise DataError("neutralising needs at least 2 rows")
    if not (np.all(np.isfinite(matrix)) and np.all(np.isfinite(exposures))):
        raise DataError("values and neutralizers must not contain NaN or Inf")
    if not 0.0 <= proportion <= 1.0:
        raise DataError(f"proportion must lie in [0, 1], got {proportion}")
    constant = np.ptp(matrix, axis=0) == 0
    if constant.any():
        matrix = matrix.copy()
        matrix[:, constant] = np.nan
    design = np.hstack((exposures, np.ones((exposures.shape[0], 1))))
    out = np.full(matrix.shape, np.nan)
    keep = ~constant
    if keep.any():
        beta = np.linalg.lstsq(design, matrix[:, keep], rcond=LSTSQ_RCOND)[0]
        out[:, keep] = matrix[:, keep] - proportion * design.dot(beta)
    return out.ravel() if one_column else out


def feature_neutral_corr(
    predictions: Sequence[float] | np.ndarray,
    features: np.ndarray,
    target: Sequence[float] | np.ndarray,
    *,
    target_pow15: bool = True,
) -> float:
    """Feature-neutral CORR (numerai-tools ``feature_neutral_corr``): gaussianize the
    predictions, neutralise them fully against the era's features, scale to unit variance,
    and score the result with :func:`numerai_corr` (which ranks it again).

    Parameters
    ----------
    predictions, target
        One era's predictions and resolved targets, row for row.
    features
        The era's features, shape (rows, k).
    target_pow15
        Passed to :func:`numerai_corr` (numerai-tools always uses True here).

    Returns
    -------
    float
        The correlation; NaN for constant predictions (undefined).

    Raises
    ------
    DataError
        Mismatched rows or NaN/Inf values.
    """
    p = checked_vector("predictions", predictions)
    t = checked_vector("target", target)
    _same_length(predictions=p, targets=t)
    neutral = neutralize(gaussianize(p), features)
    if not np.all(np.isfinite(neutral)):
        return math.nan
    spread = float(np.std(neutral))
    if spread == 0.0:
        return math.nan
    return numerai_corr(neutral / spread, t, target_pow15=target_pow15)
