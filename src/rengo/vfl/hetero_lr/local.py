"""Hetero LR (or linear / Poisson regression) on the label party's columns alone: the
protocol's plaintext twin, no message.

Same loss, batch order, L2, optimizer and early stopping as
:func:`~rengo.vfl.hetero_lr.roles.hetero_lr_guest` with zero hosts; the empty coalition of
vertical party valuation (:mod:`rengo.valuation.vertical`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.common import batch_order
from rengo.vfl.hetero_lr.class_weighting import guest_weighting
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.math import (
    base_rate_shift,
    column_scales,
    init_optimizer,
    row_scores,
    sigmoid,
)
from rengo.vfl.hetero_lr.missing import scoring_matrix, training_matrix
from rengo.vfl.hetero_lr.newton import (
    CGState,
    epoch_batch_size,
    local_hessian,
    plain_newton_cg_step,
    preconditioner,
    resolve_optimizer,
)
from rengo.vfl.hetero_lr.objective import (
    LOGISTIC_TAYLOR,
    LocalObjective,
    QuadraticObjective,
    check_labels,
)
from rengo.vfl.hetero_lr.one_vs_rest import (
    batch_columns,
    class_columns,
    class_count,
    class_rows,
    class_targets,
    normalised_probabilities,
    require_newton_expansion_fits,
)
from rengo.vfl.hetero_lr.predict import class_scores
from rengo.vfl.hetero_lr.roles import (
    GuestModel,
    class_shifts,
    gradient_step,
    guest_model,
    penalty_mask,
    per_class_newton,
    training_plateau,
)
from rengo.vfl.registry import TrainAlone, TrainExposedAlone


def train_guest_alone(
    features: np.ndarray,
    labels: np.ndarray,
    config: LinearModelConfig,
    seed: int,
    objective: LocalObjective = LOGISTIC_TAYLOR,
    offset: np.ndarray | None = None,
) -> GuestModel:
    """The label party's model on its own columns: the plaintext twin of ``hetero_lr_guest``
    (or of the linear / Poisson guest, by ``objective``) with zero hosts (same residual,
    batch order, L2, optimizer, early stopping and class weights; with ``offset``, the
    Poisson guest's ``log(exposure)`` added to each row's linear predictor).

    Parameters
    ----------
    features, labels
        The label party's rows and labels.
    config
        The model's settings.
    seed
        The batch order's seed.
    objective
        The loss (default hetero LR's Taylor loss).
    offset
        A known term of each row's linear predictor (the Poisson guest's ``log`` of its
        exposure, so that ``mu = exposure * exp(x w + b)``); ``None``: none. One class only.

    Returns
    -------
    GuestModel
        Its coefficients, intercept and per-epoch losses.

    Raises
    ------
    DataError
        For features that are not 2-D or labels the objective does not take.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    fill = None
    if x.ndim == 2:
        x, fill = training_matrix(x, config.missing, "label party")
    classes = 1
    if objective.labels == "binary":
        if x.ndim != 2 or y.shape != (len(x),):
            raise DataError("need 2-D features and a label per row")
        classes = class_count(y, config.multi_class, "label party")
        if classes > 1:  # one-vs-rest: K class rows a row, as the guest's
            y = class_targets(y, classes)
    elif x.ndim != 2:
        raise DataError(f"need 2-D features, got shape {x.shape}")
    else:
        y = check_labels(y, objective.labels, len(x), "label party")
    rows = len(x)
    if offset is not None and (classes > 1 or np.shape(offset) != (rows,)):
        raise DataError(f"need one offset per row of a one-class model, got {np.shape(offset)}")
    if config.fit_intercept:
        x = np.hstack([x, np.ones((len(x), 1))])
    size = x.shape[1] * classes  # weights (one-vs-rest: K a column, w[f K + k])
    weighting = guest_weighting(config, objective, y, "label party", classes)
    row_weights = None if weighting is None else weighting.rows(y)
    weights = np.zeros(size)
    if config.fit_intercept and classes == 1:  # with an offset: log(sum y / sum e), the guest's
        start = objective.start_intercept(y)
        weights[-1] = start if offset is None else start - np.log(np.mean(np.exp(offset)))
    scale = objective.gradient_scale(y)  # the residual's and L2's divisor, as the guest's
    penalised = penalty_mask(size, config.fit_intercept, classes)
    column_scale = column_scales(x, classes)
    state = init_optimizer(size)
    quadratic = isinstance(objective, QuadraticObjective)
    optimizer = resolve_optimizer(
        config,
        rows,
        quadratic=quadratic,
        first_order=objective.first_order,
        newton_on_any_table=isinstance(objective, QuadraticObjective)
        and objective.newton_on_any_table,
    )
    if weighting is not None and optimizer == "newton":  # as the guest: "auto" is then Adam
        optimizer = "adam"
    if optimizer == "newton":  # its one batch is every row, expanded at once
        require_newton_expansion_fits(rows, x.shape[1], classes, "label party", own=True)
    batch_size = epoch_batch_size(optimizer, config.batch_size, rows)
    # one-vs-rest: the mean over K class rows a row is 1/K of the K binary objectives, so
    # Newton-CG keeps each class model's own l2 with l2 / K (as the roles' Newton-CG)
    newton_l2 = per_class_newton(config, classes).l2
    newton = None
    if optimizer == "newton":
        if not isinstance(objective, QuadraticObjective):
            raise DataError(f"optimizer='newton' needs a quadratic loss, not {objective.name}")
        square = objective.square
        # its one batch is every row, whose class rows it holds once for its Hessian
        inverse = preconditioner(
            local_hessian(class_columns(x, classes), square, newton_l2, penalised)
        )
        newton = CGState()
    losses: list[float] = []
    converged, lr_scale = False, 1.0
    epochs_run = 0
    for epoch in range(config.epochs):
        loss_sum = 0.0
        for aligned in batch_order(seed, epoch, rows, batch_size, whole=True):
            batch = class_rows(aligned, classes)
            xb, yb = batch_columns(x, aligned, classes), y[batch]
            u = xb @ weights if offset is None else xb @ weights + offset[batch]
            residual = objective.residual(u, yb)
            if row_weights is None:
                loss_sum += objective.batch_loss(u, yb)
            else:  # class weights: only on the Taylor loss (0/1 labels), a QuadraticObjective
                assert isinstance(objective, QuadraticObjective)
                loss_sum += objective.batch_loss(u, yb, row_weights[batch])
                residual = residual * row_weights[batch]
            gradient_sum = residual @ xb / scale
            if newton is not None:
                gradient = gradient_sum / len(batch) + newton_l2 * weights * penalised
                weights, newton = plain_newton_cg_step(
                    weights, gradient, xb, inverse, square, newton_l2, penalised, newton
                )
            else:
                weights, state = gradient_step(  # per aligned row: each class model's mean
                    weights,
                    gradient_sum,
                    len(aligned),
                    state,
                    config,
                    epoch,
                    penalised / scale,
                    lr_scale,
                    column_scale=column_scale,
                    optimizer=optimizer,
                )
        epochs_run = epoch + 1
        if config.compute_loss:
            losses.append(objective.constant + loss_sum / len(y))
            converged, lr_scale = training_plateau(config, optimizer, losses)
            if converged:
                break
    # weighted: at the weighted loss's base rate, as the guest's
    if classes > 1:
        assert isinstance(objective, QuadraticObjective)
        shifts = class_shifts(objective, y, classes, weighting)
        return guest_model(weights, config, losses, epochs_run, converged, fill, shifts)
    shift = objective.intercept_shift(y) if row_weights is None else base_rate_shift(y, row_weights)
    return guest_model(weights, config, losses, epochs_run, converged, fill, shift)


def guest_alone_scores(
    model: GuestModel,
    features: np.ndarray,
    inverse_link: Callable[[np.ndarray], np.ndarray] = sigmoid,
) -> np.ndarray:
    """``P(y = 1)`` of the label party's own model on its rows (or, with another
    ``inverse_link``, that model's prediction: the value, the expected count; one-vs-rest,
    a row of class probabilities normalised across classes)."""
    columns = len(model.weights) // model.classes
    rows = scoring_matrix(features, columns, model.fill, "label party")
    if model.classes == 1:
        return inverse_link(row_scores(rows, model.weights) + model.intercept)
    assert model.intercepts is not None
    scores = class_scores(rows, model.weights, model.classes) + np.tile(model.intercepts, len(rows))
    return normalised_probabilities(inverse_link(scores).reshape(-1, model.classes))


def alone_hook(
    objective: LocalObjective, inverse_link: Callable[[np.ndarray], np.ndarray]
) -> TrainAlone:
    """The registry's ``alone`` hook of a coordinated linear model: train the twin with
    ``objective``, return its predictor through ``inverse_link``."""

    def alone(
        config: LinearModelConfig, features: np.ndarray, labels: np.ndarray, seed: int
    ) -> Callable[[np.ndarray], np.ndarray]:
        model = train_guest_alone(features, labels, config, seed, objective)
        return lambda rows: guest_alone_scores(model, rows, inverse_link)

    return alone


def exposed_alone_hook(
    objective: LocalObjective, inverse_link: Callable[[np.ndarray], np.ndarray]
) -> TrainExposedAlone:
    """The registry's ``alone_exposed`` hook of a count model: the twin trained with the
    offset ``log(exposure)``; its predictor gives the rate (one unit of exposure)."""

    def alone(
        config: LinearModelConfig,
        features: np.ndarray,
        labels: np.ndarray,
        exposure: np.ndarray,
        seed: int,
    ) -> Callable[[np.ndarray], np.ndarray]:
        offset = np.log(np.asarray(exposure, dtype=np.float64))
        model = train_guest_alone(features, labels, config, seed, objective, offset=offset)
        return lambda rows: guest_alone_scores(model, rows, inverse_link)

    return alone


train_alone: TrainAlone = alone_hook(LOGISTIC_TAYLOR, sigmoid)
"""Hetero LR's ``alone`` hook: the twin's ``P(y = 1)`` predictor."""
