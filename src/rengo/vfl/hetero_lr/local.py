"""Hetero LR on the label party's columns alone: the protocol's plaintext twin, no message.

Same Taylor loss, batch order, L2, optimizer and early stopping as
:func:`~rengo.vfl.hetero_lr.roles.hetero_lr_guest` with zero hosts; the empty coalition of
vertical party valuation (:mod:`rengo.valuation.vertical`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.common import batch_order
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.math import LOG2, init_optimizer, sigmoid, taylor_residual
from rengo.vfl.hetero_lr.roles import (
    GuestModel,
    gradient_step,
    guest_model,
    loss_converged,
    penalty_mask,
)


def train_guest_alone(
    features: np.ndarray, labels: np.ndarray, config: HeteroLRConfig, seed: int
) -> GuestModel:
    """The label party's model on its own columns: the plaintext twin of ``hetero_lr_guest``
    with zero hosts (same Taylor residual, batch order, L2, optimizer and early stopping).

    Raises
    ------
    DataError
        Unless features are 2-D with one 0/1 label per row.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or y.shape != (len(x),) or not np.isin(y, (0.0, 1.0)).all():
        raise DataError("need 2-D features and a 0/1 label per row")
    if config.fit_intercept:
        x = np.hstack([x, np.ones((len(x), 1))])
    weights = np.zeros(x.shape[1])
    penalised = penalty_mask(x.shape[1], config.fit_intercept)
    state = init_optimizer(x.shape[1])
    losses: list[float] = []
    converged = False
    epochs_run = 0
    for epoch in range(config.epochs):
        loss_sum = 0.0
        for rows in batch_order(seed, epoch, len(x), config.batch_size):
            xb, yb = x[rows], y[rows]
            u = xb @ weights
            loss_sum += float(np.sum((0.5 - yb) * u + 0.125 * u * u))
            weights, state = gradient_step(
                weights, taylor_residual(u, yb) @ xb, len(rows), state, config, epoch, penalised
            )
        epochs_run = epoch + 1
        if config.compute_loss:
            losses.append(LOG2 + loss_sum / len(x))
            if loss_converged(losses, config.tol):
                converged = True
                break
    return guest_model(weights, config, losses, epochs_run, converged)


def guest_alone_scores(model: GuestModel, features: np.ndarray) -> np.ndarray:
    """``P(y = 1)`` of the label party's own model on its rows."""
    return sigmoid(np.asarray(features, dtype=np.float64) @ model.weights + model.intercept)


def train_alone(
    config: HeteroLRConfig, features: np.ndarray, labels: np.ndarray, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """The registry's ``alone`` hook: train the twin, return its ``P(y = 1)`` predictor."""
    model = train_guest_alone(features, labels, config, seed)
    return lambda rows: guest_alone_scores(model, rows)
