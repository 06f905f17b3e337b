"""Losses the coordinated hetero protocol can train: quadratic in the linear predictor.

The protocol of :mod:`rengo.vfl.hetero_lr.roles` works on Paillier-encrypted partial
predictors ``u_k = X_k w_k``, so the label party can only form a gradient residual that is
affine in ``u = u_guest + sum_k u_k`` and a loss that is quadratic in it. A
:class:`QuadraticObjective` states both, per row::

    residual  d = (u + offset(u_guest, y)) / 2**shift        (so Enc(2**shift d) is one
                                                               plaintext addition)
    loss      l = a u^2 + b(y) u + c(y),   mean loss = constant + mean(l)

Two objectives are built in:

* :data:`LOGISTIC_TAYLOR`: the second-order Taylor expansion at ``u = 0`` of the logistic
  loss for labels in {0, 1} (Hardy et al., arXiv:1711.10677, 2017), ``d = u/4 + 0.5 - y``,
  ``l = log 2 + (0.5 - y) u + u^2/8``: an approximation of logistic regression;
* :data:`SQUARED`: half the squared error, ``d = u - y``, ``l = (u - y)^2 / 2``: linear
  regression, **exact** (no approximation; only fixed-point encoding rounds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.hetero_lr.math import base_rate_shift

LOG2 = float(np.log(2.0))
LabelKind = Literal["binary", "real", "count"]
"""What labels an objective takes: 0/1, any finite number, or non-negative integers."""


class LocalObjective(Protocol):
    """What plaintext training of one party's own columns needs from a loss (the label
    party alone, e.g. the empty coalition of vertical party contribution)."""

    @property
    def name(self) -> str:
        """What it is."""
        ...

    @property
    def labels(self) -> LabelKind:
        """Which labels it takes."""
        ...

    @property
    def constant(self) -> float:
        """Added to the mean loss."""
        ...

    def residual(self, u: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The gradient residual ``d`` per row (the gradient is ``X^T d``)."""
        ...

    def batch_loss(self, u: np.ndarray, y: np.ndarray) -> float:
        """The batch's summed loss, less ``constant`` per row."""
        ...

    @property
    def first_order(self) -> Literal["sgd", "adam"]:
        """What ``optimizer="auto"`` is when Newton-CG is not."""
        ...

    def gradient_scale(self, y: np.ndarray) -> float:
        """The label party's private divisor of the residual (and of L2's gradient): the
        loss's curvature scale, so that one learning rate suits every label scale."""
        ...

    def start_intercept(self, y: np.ndarray) -> float:
        """Where the intercept starts (the best constant model's linear predictor)."""
        ...

    def intercept_shift(self, y: np.ndarray) -> float:
        """What the label party adds to the intercept once training ends."""
        ...


@dataclass(frozen=True)
class QuadraticObjective:
    """A loss whose residual is affine and whose value is quadratic in the linear predictor.

    Parameters
    ----------
    name
        What it is, for errors and logs.
    labels
        Which labels it takes (see :data:`LabelKind`).
    shift
        ``d = (u + offset) / 2**shift``: the encrypted residual is ``Enc(u + offset)``
        read at ``shift`` more fractional bits (a division by a power of two for free).
    offset
        ``offset(u_guest, y)``: the label party's plaintext part of ``2**shift * d``.
    square
        ``a``: the loss's coefficient of ``u^2``.
    linear
        ``b(y)``: the loss's coefficient of ``u``.
    plain
        ``c(y)`` per row, or ``None`` when it is 0.
    constant
        Added to the mean loss (``log 2`` for the Taylor logistic loss).
    plain_residual
        ``d(u, y)`` in plaintext, written as the reference math writes it.
    recentre
        ``shift(y)``: what the label party adds to the trained intercept, from its training
        labels (``None``: nothing).
    newton_on_any_table
        Whether ``optimizer="auto"`` solves it with Newton-CG on tables larger than a batch
        too (:func:`~rengo.vfl.hetero_lr.newton.resolve_optimizer`): the squared loss's
        optimum has the target's scale, which Adam's steps of ``learning_rate`` do not
        follow (diabetes, 309 rows in batches of 128: R^2 -2.4 after 100 epochs against
        least squares' 0.39) and Newton-CG's do.
    """

    name: str
    labels: LabelKind
    shift: int
    offset: Callable[[np.ndarray, np.ndarray], np.ndarray]
    square: float
    linear: Callable[[np.ndarray], np.ndarray]
    plain: Callable[[np.ndarray], np.ndarray] | None = None
    constant: float = 0.0
    plain_residual: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    recentre: Callable[[np.ndarray], float] | None = None
    newton_on_any_table: bool = False

    def residual(self, u: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``d`` in plaintext (local training and reference checks)."""
        if self.plain_residual is not None:
            return self.plain_residual(u, y)
        residual: np.ndarray = (u + self.offset(np.zeros_like(u), y)) / 2.0**self.shift
        return residual

    def batch_loss(
        self, u: np.ndarray, y: np.ndarray, row_weights: np.ndarray | None = None
    ) -> float:
        """``sum_i l_i - constant`` over a batch, in plaintext (the protocol's sum); each
        row's term times its ``row_weights`` (class weights) when given, its ``constant``
        too (``sum_i s_i (constant + t_i) - rows * constant``: the reported mean adds
        ``constant`` per row back)."""
        terms = self.linear(y) * u + self.square * u * u
        if self.plain is not None:
            terms = terms + self.plain(y)
        if row_weights is None:
            return float(np.sum(terms))
        return float(np.sum(row_weights * terms) + self.constant * np.sum(row_weights - 1.0))

    @property
    def first_order(self) -> Literal["sgd", "adam"]:
        """Adam: a quadratic loss's first-order steps when the table is not one batch."""
        return "adam"

    def gradient_scale(self, y: np.ndarray) -> float:
        """1: the quadratic losses' residuals are already on the labels' scale."""
        return 1.0

    def start_intercept(self, y: np.ndarray) -> float:
        """0: the quadratic losses start from the zero model."""
        return 0.0

    def intercept_shift(self, y: np.ndarray) -> float:
        """What the label party adds to the intercept once training ends (``recentre``)."""
        return 0.0 if self.recentre is None else self.recentre(y)


def _taylor_offset(u_guest: np.ndarray, y: np.ndarray) -> np.ndarray:
    offset: np.ndarray = u_guest + 2.0 - 4.0 * y
    return offset


def _taylor_linear(y: np.ndarray) -> np.ndarray:
    linear: np.ndarray = 0.5 - y
    return linear


def _squared_offset(u_guest: np.ndarray, y: np.ndarray) -> np.ndarray:
    offset: np.ndarray = u_guest - y
    return offset


def _squared_linear(y: np.ndarray) -> np.ndarray:
    linear: np.ndarray = -y
    return linear


def _squared_plain(y: np.ndarray) -> np.ndarray:
    plain: np.ndarray = 0.5 * y * y
    return plain


def _taylor_residual(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    residual: np.ndarray = 0.25 * u + 0.5 - y  # as rengo.vfl.hetero_lr.math.taylor_residual
    return residual


LOGISTIC_TAYLOR = QuadraticObjective(
    "Taylor logistic",
    "binary",
    2,
    _taylor_offset,
    0.125,
    _taylor_linear,
    None,
    LOG2,
    _taylor_residual,
    base_rate_shift,
)
"""Hetero LR's loss: ``d = u/4 + 0.5 - y``, ``l = log 2 + (0.5 - y) u + u^2/8``; the trained
intercept then moves by :func:`~rengo.vfl.hetero_lr.math.base_rate_shift`, which makes the
model that of the same bound expanded at the base-rate logit (calibrated at any rate)."""

SQUARED = QuadraticObjective(
    "squared",
    "real",
    0,
    _squared_offset,
    0.5,
    _squared_linear,
    _squared_plain,
    newton_on_any_table=True,
)
"""Linear regression's loss: ``d = u - y``, ``l = (u - y)^2 / 2`` (exact); solved with
Newton-CG on any table by default."""


def check_labels(labels: np.ndarray, kind: LabelKind, rows: int, who: str) -> np.ndarray:
    """``labels`` as floats, if they are one per row and of ``kind``; else a clear error.

    Parameters
    ----------
    labels
        The label party's labels of its aligned rows.
    kind
        What the objective takes (see :data:`LabelKind`).
    rows
        How many feature rows the party holds.
    who
        The label party's name, for the message.

    Returns
    -------
    numpy.ndarray
        The labels as float64.

    Raises
    ------
    DataError
        Naming the party, the first bad values and the fix; for 0/1 labels, also when only
        one class is present (a classifier of one class predicts it for everyone).
    """
    try:
        y = np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{who}: labels must be numbers ({exc}); encode them first") from exc
    if y.shape != (rows,):
        raise DataError(f"{who}: expected one label per feature row ({rows}), got shape {y.shape}")
    if kind == "binary":
        wrong = ~np.isin(y, (0.0, 1.0))
        if wrong.any():
            found = np.unique(y[wrong])[:5].tolist()  # NaN sorts last and prints as nan
            raise DataError(
                f"{who}: logistic regression needs 0/1 labels, found {int(wrong.sum())} "
                f"others (first at aligned row {int(np.argmax(wrong))}; values {found}); "
                "encode the positive class as 1 and the rest as 0"
            )
        present = np.unique(y).tolist()
        if len(present) < 2:
            raise DataError(
                f"{who}: logistic regression needs both classes, but the {rows} aligned "
                f"row(s) (the IDs every party holds) have only {present}; with few aligned "
                "rows, check that the parties write their IDs the same way"
            )
        return y
    bad = ~np.isfinite(y)
    if bad.any():
        raise DataError(
            f"{who}: {int(bad.sum())} labels are NaN or infinite (first at aligned row "
            f"{int(np.argmax(bad))}); drop or impute those rows"
        )
    if kind == "count":
        wrong = (y < 0) | (y != np.floor(y))
        if wrong.any():
            found = np.unique(y[wrong])[:5].tolist()
            raise DataError(
                f"{who}: Poisson regression needs counts (non-negative integers) as labels, "
                f"found {found}; use hetero_linear for real-valued targets"
            )
    return y
