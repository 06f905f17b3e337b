"""Newton-CG for the coordinated quadratic losses: the plaintext math each party runs alone.

Hetero LR's Taylor loss and linear regression's squared loss are quadratic in the weights,

    F(w) = const + (1/n) sum_i (b_i u_i + a u_i^2) + l2/2 ||w||_P^2,   u = X w,

so their Hessian is the constant ``H = (2a/n) X^T X + l2 P`` and one Newton step
``w - H^{-1} g`` lands on the optimum. Nobody may form ``H``: its cross-party blocks
``X_g^T X_h`` are statistics of two parties' private columns together. Newton's system
``H s = -g`` is therefore solved by conjugate gradients (Hestenes & Stiefel, "Methods of
conjugate gradients for solving linear systems", J. Res. NBS 49(6), 1952), which needs
``H`` only through Hessian-vector products ``H p`` (truncated Newton / Newton-CG, Nocedal
& Wright, *Numerical Optimization*, 2nd ed., 2006, ch. 5 and 7.1). For a quadratic the
outer Newton iteration and the inner CG iteration coincide: one CG iteration per epoch,
restarted at nothing, is CG on ``F`` itself, with exact line search.

The quantities CG needs come with the messages of a gradient step (the idea FATE 1.x uses
for its stochastic quasi-Newton option, after Byrd, Hansen, Nocedal & Singer, "A stochastic
quasi-Newton method for large-scale optimization", SIAM J. Optim. 26(2), 2016, whose
curvature pairs are encrypted Hessian-vector products computed like gradients):

* ``p^T H p = (2/n) a ||X p||^2 + l2 ||p||_P^2``: the Taylor loss's quadratic term at the
  predictor ``X p`` instead of ``X w``, computed under encryption by the same messages as
  the encrypted loss (every party's ``Enc(X_k p_k)``, squares and cross terms);
* ``g^T p`` and ``r^T z``: sums of each party's own scalars, added under encryption.

Each party preconditions with its own diagonal block ``H_kk = (2a/n) X_k^T X_k + l2 P_k``,
which it computes from its own columns alone (block-Jacobi preconditioning): CG then
converges in a handful of epochs on the breast-cancer table split over two or three
parties, where plain gradient descent needs hundreds. The functions here are that local
math; :mod:`rengo.vfl.hetero_lr.roles` runs the rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rengo.core.errors import ProtocolError

Resolved = Literal["sgd", "adam", "newton"]
"""The optimizer a run actually uses (``"auto"`` resolved)."""


def resolve_optimizer(
    config: Any,
    rows: int,
    *,
    quadratic: bool = True,
    first_order: Literal["sgd", "adam"] = "adam",
    newton_on_any_table: bool = False,
) -> Resolved:
    """The optimizer ``config.optimizer`` means for a table of ``rows`` aligned rows.

    ``"auto"`` is Newton-CG when the loss is ``quadratic`` (hetero LR, linear regression)
    and the whole table fits in one batch (``rows <= batch_size``: full-batch gradient
    steps converge slowly there) or the loss asks for it on any table
    (``newton_on_any_table``: linear regression, whose targets have any scale), else the
    loss's ``first_order`` optimizer (Adam, or gradient descent for Poisson regression's
    scaled loss).

    Parameters
    ----------
    config
        A :class:`~rengo.vfl.hetero_lr.config.LinearModelConfig`.
    rows
        Aligned training rows.
    quadratic
        Whether the loss is quadratic in the weights (Poisson's is not).
    first_order
        What ``"auto"`` is when Newton-CG is not.
    newton_on_any_table
        Whether ``"auto"`` takes Newton-CG for a quadratic loss beyond one batch too.

    Returns
    -------
    str
        ``"sgd"``, ``"adam"`` or ``"newton"``.
    """
    chosen = str(config.optimizer)
    if chosen == "auto":
        one_batch = rows <= config.batch_size
        return "newton" if quadratic and (one_batch or newton_on_any_table) else first_order
    if chosen not in ("sgd", "adam", "newton"):
        raise ProtocolError(f"unknown optimizer {chosen!r}")
    return chosen  # type: ignore[return-value]


def epoch_batch_size(optimizer: Resolved, batch_size: int, rows: int) -> int:
    """Rows per batch: every row for Newton-CG (one full-batch iteration per epoch)."""
    return max(1, rows) if optimizer == "newton" else batch_size


def local_hessian(
    features: np.ndarray, square: float, l2: float, penalised: np.ndarray
) -> np.ndarray:
    """A party's own diagonal block of the Hessian, ``(2a/n) X_k^T X_k + l2 P_k``.

    Parameters
    ----------
    features
        The party's aligned rows (the label party's with its intercept column).
    square
        The loss's ``a`` (1/8 for the Taylor logistic loss, 1/2 for the squared loss).
    l2
        The L2 weight.
    penalised
        1 for every penalised coefficient, 0 for the intercept.

    Returns
    -------
    numpy.ndarray
        The symmetric block.
    """
    rows = max(1, len(features))
    block: np.ndarray = (2.0 * square / rows) * (features.T @ features)
    return block + np.diag(l2 * penalised)


def preconditioner(block: np.ndarray) -> np.ndarray:
    """The (pseudo-)inverse of a party's Hessian block (pseudo for collinear columns
    without L2: the gradient then lies in the block's range)."""
    inverse: np.ndarray = np.linalg.pinv(block, hermitian=True)
    return inverse


@dataclass(frozen=True)
class CGState:
    """A party's conjugate-gradient memory: its block of the last search direction and the
    last ``r^T z`` (every party's sum), or ``None`` before the first iteration."""

    direction: np.ndarray | None = None
    rz: float = 0.0


def conjugate_coefficient(rz: float, state: CGState) -> float:
    """Fletcher-Reeves' ``beta = r_t^T z_t / r_{t-1}^T z_{t-1}`` (0 at the start, and
    when the last ``r^T z`` vanished)."""
    if state.direction is None or not state.rz > 0 or not np.isfinite(rz):
        return 0.0
    return float(rz / state.rz)


def search_direction(z: np.ndarray, beta: float, state: CGState) -> np.ndarray:
    """``p = -z + beta p_{t-1}`` on a party's own block."""
    if state.direction is None or beta == 0.0:
        return -z
    direction: np.ndarray = -z + beta * state.direction
    return direction


def step_length(slope: float, curvature: float) -> float:
    """Exact line search on a quadratic: ``alpha = -g^T p / p^T H p`` (0 when the
    curvature vanished: the optimum is reached)."""
    if not curvature > 0 or not np.isfinite(slope) or not np.isfinite(curvature):
        return 0.0
    return float(-slope / curvature)


def plain_newton_cg_step(
    weights: np.ndarray,
    gradient: np.ndarray,
    features: np.ndarray,
    inverse: np.ndarray,
    square: float,
    l2: float,
    penalised: np.ndarray,
    state: CGState,
) -> tuple[np.ndarray, CGState]:
    """One Newton-CG iteration of a party that holds every column (the plaintext twin):
    the protocol's iteration with one block, so with no hosts it is Newton's method.

    Parameters
    ----------
    weights, gradient
        The weights and the full-batch gradient (L2 included).
    features
        Every row (with the intercept column).
    inverse
        :func:`preconditioner` of :func:`local_hessian`.
    square, l2, penalised
        As for :func:`local_hessian`.
    state
        The CG memory.

    Returns
    -------
    tuple
        The new weights and CG memory.
    """
    z = inverse @ gradient
    rz = float(gradient @ z)
    direction = search_direction(z, conjugate_coefficient(rz, state), state)
    v = features @ direction
    rows = max(1, len(features))
    curvature = 2.0 * square * float(v @ v) / rows + l2 * float((direction * penalised) @ direction)
    alpha = step_length(float(gradient @ direction), curvature)
    return weights + alpha * direction, CGState(direction, rz)
