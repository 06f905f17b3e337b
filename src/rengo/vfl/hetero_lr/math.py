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

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

# roc_auc and ks_statistic moved to rengo.metrics; re-exported here for old imports
from rengo.metrics import ks_statistic as ks_statistic
from rengo.metrics import roc_auc as roc_auc
from rengo.vfl.common import batch_order as batch_order  # re-exported: shared by every algorithm

LOG2 = float(np.log(2.0))
Schedule = Literal["constant", "inverse_sqrt", "step"]
OptimizerName = Literal["auto", "sgd", "adam", "newton"]
"""``"auto"`` (default): ``"newton"`` when the whole table is one batch and the loss is
quadratic, else ``"adam"``; ``"newton"``: full-batch Newton-CG (see
:mod:`rengo.vfl.hetero_lr.newton`)."""
FirstOrder = Literal["sgd", "adam"]


def sigmoid(u: np.ndarray) -> np.ndarray:
    """The logistic function, numerically stable for large |u|."""
    probability: np.ndarray = np.exp(-np.logaddexp(0.0, -u))
    return probability


def taylor_residual(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``d = u/4 + 0.5 - y``: the Taylor gradient residual for labels in {0, 1}."""
    residual: np.ndarray = 0.25 * u + 0.5 - y
    return residual


def taylor_loss(u: np.ndarray, y: np.ndarray) -> float:
    """Mean Taylor-approximated logistic loss ``log 2 + (0.5 - y) u + u^2/8``."""
    return float(LOG2 + np.mean((0.5 - y) * u + 0.125 * u * u))


def logistic_loss(u: np.ndarray, y: np.ndarray) -> float:
    """Mean exact logistic loss ``log(1 + e^u) - y u`` (for plaintext reference checks)."""
    return float(np.mean(np.logaddexp(0.0, u) - y * u))


def learning_rate(
    base: float, schedule: Schedule, epoch: int, *, decay: float = 0.5, step_epochs: int = 10
) -> float:
    """The learning rate in (0-based) ``epoch``: constant, ``base/sqrt(1 + epoch)`` or
    ``base * decay ** (epoch // step_epochs)``."""
    if schedule == "constant":
        return base
    if schedule == "inverse_sqrt":
        return base / float(np.sqrt(1.0 + epoch))
    if schedule == "step":
        return base * decay ** (epoch // step_epochs)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")


@dataclass(frozen=True)
class OptimizerState:
    """Per-party optimizer state: step count and Adam's first/second moments."""

    step: int
    first: np.ndarray
    second: np.ndarray


def init_optimizer(size: int) -> OptimizerState:
    """A fresh state for ``size`` weights."""
    return OptimizerState(0, np.zeros(size), np.zeros(size))


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
