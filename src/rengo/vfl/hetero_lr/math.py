"""Plaintext math of vertical logistic regression: Taylor residual and loss, schedules, steps.

Labels are y in {0, 1}. The logistic loss ``log(1 + e^u) - y*u`` is replaced by its
second-order Taylor expansion at u = 0 (Hardy et al., "Private federated learning on
vertically partitioned data via entity resolution and additively homomorphic encryption",
arXiv:1711.10677, 2017; the form FATE uses):

    loss(u, y) ~ log 2 + (0.5 - y) * u + u^2 / 8,    gradient residual d = u/4 + 0.5 - y,

which equals FATE's ``0.25*u - 0.5*y'`` for y' = 2y - 1 in {-1, 1}. Both are linear or
quadratic in u, so they can be evaluated on Paillier-encrypted partial predictors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

# roc_auc and ks_statistic moved to rengo.metrics; re-exported here for old imports
from rengo.metrics import ks_statistic as ks_statistic
from rengo.metrics import roc_auc as roc_auc
from rengo.vfl.common import batch_order as batch_order  # re-exported: shared by every algorithm

LOG2 = float(np.log(2.0))
Schedule = Literal["adaptive", "constant", "inverse_sqrt", "step"]
"""``"adaptive"`` (default): constant while the epoch loss improves, times ``lr_decay`` at each
plateau (see :func:`adaptive_lr_scale`); ``"constant"``; ``"inverse_sqrt"``: ``base /
sqrt(1 + epoch)``; ``"step"``: times ``lr_decay`` every ``lr_step_epochs`` epochs."""
MIN_ADAPTIVE_SCALE = 0.01
"""The adaptive schedule stops training at a plateau once the rate is already cut to this
fraction of the base rate or below (7 cuts by the default ``lr_decay`` of 1/2).
scikit-learn's floor is an absolute ``1e-6`` (8 cuts by its factor 1/5 from 0.1, 17 by
halving), and each epoch here is an encrypted pass over the table: the relative floor ends
training once the rate has fallen two orders of magnitude (what
``tests/vfl/hetero_lr/test_convergence.py`` checks against scikit-learn's models)."""
OptimizerName = Literal["auto", "sgd", "adam", "newton"]
"""``"auto"`` (default): ``"newton"`` when the whole table is one batch and the loss is
quadratic, else ``"adam"``; ``"newton"``: full-batch Newton-CG (see
:mod:`rengo.vfl.hetero_lr.newton`)."""
FirstOrder = Literal["sgd", "adam"]


def sigmoid(u: np.ndarray) -> np.ndarray:
    """The logistic function, numerically stable for large |u|."""
    probability: np.ndarray = np.exp(-np.logaddexp(0.0, -u))
    return probability


def row_scores(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each row's ``x . w``, summed within the row only, so that a row's score does not
    depend on the rows scored with it nor on their order (a matrix-vector product through
    BLAS rounds a row by its position in its block: one row of 111 scored in another
    order moved by 1 ulp).

    Parameters
    ----------
    rows
        The rows, shape ``(n, d)``.
    weights
        The weights, shape ``(d,)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``: the same value for a row wherever it stands.
    """
    # C order whatever the rows' layout: every row is then summed the same way
    products = np.multiply(
        np.asarray(rows, dtype=np.float64), np.asarray(weights, dtype=np.float64), order="C"
    )
    scores: np.ndarray = products.sum(axis=1)
    return scores


def taylor_residual(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``d = u/4 + 0.5 - y``: the Taylor gradient residual for labels in {0, 1}."""
    residual: np.ndarray = 0.25 * u + 0.5 - y
    return residual


def taylor_loss(u: np.ndarray, y: np.ndarray) -> float:
    """Mean Taylor-approximated logistic loss ``log 2 + (0.5 - y) u + u^2/8``."""
    return float(LOG2 + np.mean((0.5 - y) * u + 0.125 * u * u))


def base_rate_shift(y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """What the label party adds to the intercept trained on the Taylor loss at ``u = 0``
    to make it the model of the logistic loss's quadratic bound at the base-rate logit.

    At ``u0 = log(r / (1 - r))``, ``r = mean(y)``, that bound is the first-order term
    ``(r - y)(u - u0)`` plus Böhning's curvature ``(u - u0)^2 / 8``: it equals the loss at
    ``u = 0`` evaluated at ``u + delta``, ``delta = 4 r - 2 - u0``, plus a constant. So both
    have the same weights (the intercept is not penalised, and every step is
    translation-invariant), and their intercepts differ by ``-delta``. The expansion at 0
    puts the best constant model at ``4 r - 2`` (P = 0.12 at a 5% rate), the one at ``u0``
    at ``u0`` itself: the base rate. At ``r = 1/2`` the two coincide (``delta = 0``).

    Parameters
    ----------
    y
        The label party's 0/1 training labels (both classes present).
    weights
        Each row's class weight (None: unweighted): ``r`` is then the weighted rate
        ``sum s y / sum s``, the best constant of the weighted loss (1/2 when balanced).

    Returns
    -------
    float
        ``-delta = u0 - 4 r + 2``.
    """
    rate = float(np.average(y, weights=weights))
    return float(np.log(rate / (1.0 - rate)) - 4.0 * rate + 2.0)


def logistic_loss(u: np.ndarray, y: np.ndarray) -> float:
    """Mean exact logistic loss ``log(1 + e^u) - y u`` (for plaintext reference checks)."""
    return float(np.mean(np.logaddexp(0.0, u) - y * u))


def learning_rate(
    base: float,
    schedule: Schedule,
    epoch: int,
    *,
    decay: float = 0.5,
    step_epochs: int = 10,
    scale: float = 1.0,
) -> float:
    """The learning rate in (0-based) ``epoch``: ``base * scale`` (adaptive, ``scale`` from
    :func:`adaptive_lr_scale`), constant, ``base/sqrt(1 + epoch)`` or
    ``base * decay ** (epoch // step_epochs)``."""
    if schedule == "adaptive":
        return base * scale
    if schedule == "constant":
        return base
    if schedule == "inverse_sqrt":
        return base / float(np.sqrt(1.0 + epoch))
    if schedule == "step":
        return base * decay ** (epoch // step_epochs)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")


def adaptive_lr_scale(
    losses: Sequence[float], tol: float, patience: int, decay: float
) -> tuple[float, bool]:
    """The adaptive schedule replayed over the epoch losses so far: the factor on the base
    learning rate for the next epoch, and whether training stops.

    The rule of scikit-learn's ``learning_rate="adaptive"`` (``SGDClassifier``,
    ``MLPClassifier``), with its factor and floor as parameters: an epoch that fails to lower
    the best loss before it by ``tol`` is stale; after ``patience`` stale epochs in a row the
    rate is multiplied by ``decay`` (scikit-learn: 1/5) and the count starts again, and once
    the rate is already cut to :data:`MIN_ADAPTIVE_SCALE` of the base rate (scikit-learn:
    an absolute 1e-6) such a plateau stops training instead (converged). A constant rate
    that overshoots (the loss goes up again) or circles the optimum with mini-batch noise is
    so cut until the loss settles, where early stopping at a constant rate stops short of
    the optimum.
    ``tol = 0`` disables it (the rate stays ``base``, training never stops early). A pure
    function of the losses: a resumed label party recomputes it from its checkpoint.
    """
    scale, best, stale = 1.0, math.inf, 0
    if not tol > 0:
        return scale, False
    for loss in losses:
        stale = stale + 1 if loss > best - tol else 0
        best = min(best, loss)
        if stale >= patience:
            if scale <= MIN_ADAPTIVE_SCALE:
                return scale, True
            scale, stale = scale * decay, 0
    return scale, False


@dataclass(frozen=True)
class OptimizerState:
    """Per-party optimizer state: step count and Adam's first/second moments."""

    step: int
    first: np.ndarray
    second: np.ndarray


def init_optimizer(size: int) -> OptimizerState:
    """A fresh state for ``size`` weights."""
    return OptimizerState(0, np.zeros(size), np.zeros(size))


def column_scales(features: np.ndarray, classes: int = 1) -> np.ndarray:
    """Each column's root mean square over a party's training rows (1 for a column of
    zeros): the unit in which first-order steps move that column's weight. One-vs-rest
    (``classes`` K > 1, :mod:`rengo.vfl.hetero_lr.one_vs_rest`), ``features`` are the
    aligned rows and each column's scale is given for its K class columns (``f K + k``):
    each class model steps in the units of its binary fit.

    Adam moves every weight by about ``learning_rate`` a step whatever its column's scale,
    and SGD by the gradient, which grows with it: on a column of amounts in the thousands
    either moves the scores by thousands and the loss diverges. Stepping in units of the
    column's scale is training on ``x / scale`` - what z-scored columns give - with the
    weights and the L2 penalty still those of the raw columns, so the optimum and the
    model are unchanged; the scales never leave the party.
    """
    squares = np.square(np.asarray(features, dtype=np.float64))
    if classes == 1:
        rms = np.sqrt(np.mean(squares, axis=0))
    else:  # the sum over the aligned rows, as over the class rows (the rest are zeros)
        rms = np.repeat(np.sqrt(np.sum(squares, axis=0) / max(1, len(squares))), classes)
    scales: np.ndarray = np.where(rms > 0, rms, 1.0)
    return scales


def optimizer_step(
    weights: np.ndarray,
    gradient: np.ndarray,
    state: OptimizerState,
    lr: float,
    optimizer: OptimizerName,
    *,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, OptimizerState]:
    """One SGD or Adam (Kingma & Ba, ICLR 2015) step; both are per-coordinate, so every
    party can apply them to its own block of weights alone."""
    if optimizer == "auto":
        optimizer = "adam"  # first-order steps of the "auto" choice
    if optimizer == "sgd":
        return weights - lr * gradient, replace(state, step=state.step + 1)
    if optimizer != "adam":
        raise ValueError(f"unknown optimizer {optimizer!r}")
    step = state.step + 1
    first = beta1 * state.first + (1 - beta1) * gradient
    second = beta2 * state.second + (1 - beta2) * gradient * gradient
    unbiased = first / (1 - beta1**step)
    scale = np.sqrt(second / (1 - beta2**step)) + eps
    return weights - lr * unbiased / scale, OptimizerState(step, first, second)
