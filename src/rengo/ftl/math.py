"""The math of secure federated transfer learning, as plain functions over numpy arrays.

Liu, Kang, Xing, Chen and Yang, "A Secure Federated Transfer Learning Framework", IEEE
Intelligent Systems 35(4), 2020 (arXiv:1812.03337). The source A holds labels y_i for its
rows, the target B a few or none; both encode their own features into a common space of
size d: ``u_A = f_A(x_A)``, ``u_B = f_B(x_B)``. The translator

    Phi = 1/N_A sum_i y_i u_A,i^T                         (C x d; C = 1 for binary)

turns a target representation into class scores ``phi(u_B) = Phi u_B`` (eq. 3). The loss of
a score is replaced by its second-order Taylor expansion at 0 (eq. 8), so that every gradient
is linear in each party's encrypted terms:

    l(y, p) ~ kappa - a(y)^T p + p^T Q p / 2

* binary (the paper's): y = +1/-1, the logistic loss: ``a = y/2``, ``Q = 1/4``,
  ``kappa = log 2``;
* multiclass (beyond the paper and FATE): the softmax cross-entropy, ``a = e_y - 1/C`` (the
  centred one-hot code, also the translator's y), ``Q = (I - 11^T/C)/C``, ``kappa = log C``.
  Scores shifted equally for every class change neither the loss nor the prediction.

Over a batch of n shared rows j (and m rows k the target labelled itself), with
``M = Phi^T Q Phi``:

    L = alpha/n sum_j l(y_j, Phi u_B,j) + beta/m sum_k l(y_k, Phi u_B,k)
        + gamma/n sum_j ||u_A,j - u_B,j||^2 + lambda/2 (||theta_A||^2 + ||theta_B||^2)

    dL/du_B,j = c_j + alpha/n M u_B,j + 2 gamma/n u_B,j
        with c_j = -alpha/n Phi^T a_j - 2 gamma/n u_A,j                         (source's)
    dL/du_B,k = beta/m (-Phi^T a_k + M u_B,k)
    dL/dPhi = -alpha/n A^T U_B + Q Phi W + R
        with W = alpha/n U_B^T U_B + beta/m U_T^T U_T and R = -beta/m A_T^T U_T  (target's)

Each party's parameter gradient is its own per-row Jacobians (plaintext, never sent) times
these terms: :func:`target_gradient_matrices` and :func:`source_gradient_matrices` give the
plaintext matrices, and the same products work whether the other party's terms arrive
encrypted or in the clear (:mod:`rengo.ftl.assembly`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import DataError

LOG2 = math.log(2.0)


# -- labels ---------------------------------------------------------------------------------


def label_names(values: Any) -> list[str | None]:
    """Each label as a class name; ``None`` for a missing one (None, NaN or empty text).

    Integral numbers become their integer text (``1.0`` -> ``"1"``), so that ``0/1`` labels
    read as ints, floats or text name the same classes at both parties.
    """
    out: list[str | None] = []
    for value in np.asarray(values, dtype=object).ravel().tolist():
        if value is None:
            out.append(None)
        elif isinstance(value, (float, np.floating)):
            if math.isnan(value):
                out.append(None)
            else:
                out.append(str(int(value)) if float(value).is_integer() else repr(float(value)))
        elif isinstance(value, (bool, np.bool_, int, np.integer)):
            out.append(str(int(value)))
        else:
            text = value.decode() if isinstance(value, bytes) else str(value)
            out.append(text.strip() or None)
    return out


def class_order(names: Sequence[str]) -> tuple[str, ...]:
    """Distinct class names in their natural order (numerically when every name is an
    integer: ``"2" < "10"``)."""
    distinct = sorted(set(names))
    try:
        return tuple(sorted(distinct, key=int))
    except ValueError:
        return tuple(distinct)


def label_codes(names: Sequence[str | None], classes: Sequence[str], binary: bool) -> np.ndarray:
    """The codes ``y`` of labelled rows (rows without a label are left out): +1/-1 in one
    column (+1 = ``classes[1]``) for a binary objective, the centred one-hot code
    ``e_y - 1/C`` otherwise. They weight the translator, and ``a(y)`` is
    :func:`linear_codes` of them.

    Raises
    ------
    DataError
        For a class name not in ``classes``.
    """
    index = {name: k for k, name in enumerate(classes)}
    unknown = sorted({n for n in names if n is not None and n not in index})
    if unknown:
        raise DataError(
            f"labels {unknown[:5]} are not among the source's classes {list(classes)}; the "
            "target's labels must name the same classes as the source's"
        )
    kept = [index[n] for n in names if n is not None]
    if binary:
        return np.where(np.asarray(kept) == 1, 1.0, -1.0).reshape(-1, 1)
    codes = np.full((len(kept), len(classes)), -1.0 / len(classes))
    codes[np.arange(len(kept)), kept] += 1.0
    return codes


def linear_codes(codes: np.ndarray, binary: bool) -> np.ndarray:
    """``a(y)``: the linear coefficients of the Taylor expansion (``y/2`` for binary)."""
    result: np.ndarray = codes / 2.0 if binary else codes
    return result


def quadratic(width: int, binary: bool) -> np.ndarray:
    """``Q``: the curvature of the Taylor expansion (C x C)."""
    if binary:
        return np.full((1, 1), 0.25)
    curvature: np.ndarray = (np.eye(width) - np.full((width, width), 1.0 / width)) / width
    return curvature


def expansion_constant(width: int, binary: bool) -> float:
    """``kappa``: the expansion's value at 0 (``log 2``, or ``log C``)."""
    return LOG2 if binary else math.log(width)


def class_probabilities(scores: np.ndarray, binary: bool) -> np.ndarray:
    """From class scores ``Phi u`` (rows x C): ``P(y = 1) = sigmoid(score)`` per row for a
    binary objective, else the softmax of each row (the losses the expansions approximate)."""
    if binary:
        result: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(scores[:, 0], -500, 500)))
        return result
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


# -- the loss's weights --------------------------------------------------------------------


@dataclass(frozen=True)
class LossWeights:
    """alpha, beta, gamma and lambda of one batch, with its sizes (``m = 0``: the target
    labelled no row of this batch) and the objective's expansion (binary or multiclass)."""

    alpha: float
    beta: float
    gamma: float
    l2: float
    n: int
    m: int
    binary: bool = True

    @property
    def labelled(self) -> bool:
        """Whether the target's own labels enter this batch."""
        return self.m > 0 and self.beta > 0


# -- the source's side ----------------------------------------------------------------------


def translator(codes: np.ndarray, representations: np.ndarray) -> np.ndarray:
    """``Phi = codes^T U / N`` over every labelled source row (C x d)."""
    result: np.ndarray = codes.T @ representations / len(representations)
    return result


def source_terms(
    phi: np.ndarray, codes: np.ndarray, u_a: np.ndarray, w: LossWeights
) -> tuple[np.ndarray, np.ndarray]:
    """What the source sends for a batch: ``c`` (n x d) and ``M = Phi^T Q Phi`` (d x d)."""
    a = linear_codes(codes, w.binary)
    c = -(w.alpha / w.n) * a @ phi - (2 * w.gamma / w.n) * u_a
    return c, phi.T @ quadratic(phi.shape[0], w.binary) @ phi


def source_gradient_matrices(
    phi: np.ndarray,
    codes: np.ndarray,
    u_a: np.ndarray,
    jac_phi: np.ndarray,
    jac_a: np.ndarray,
    theta: np.ndarray,
    w: LossWeights,
) -> dict[str, np.ndarray]:
    """The source's plaintext factors of its gradient and its loss, given the target's
    ``U_B`` (n x d), ``W`` (d x d), ``R`` (C x d) and ``q`` (a scalar)::

        (dL/dPhi)^T = U_B^T a_scaled + W phi_q + R^T                      (d x C)
        dL/dtheta   = vec(dL/dPhi) @ jac_phi + vec(U_B) @ u_weights + plain
        L           = vec(U_B) . loss_u + vec(R) . loss_r + vec(W) . loss_w + q + loss_plain

    Returns
    -------
    dict
        ``a_scaled`` (n x C), ``phi_q`` (d x C), ``jac_phi`` (C d x P), ``u_weights``
        (n d x P), ``plain`` (P), ``loss_u`` (n d), ``loss_r`` (C d), ``loss_w`` (d d),
        ``loss_plain`` (a 0-d array).
    """
    n, width = w.n, codes.shape[1]
    q_mat = quadratic(width, w.binary)
    a = linear_codes(codes, w.binary)
    flat_a = jac_a.reshape(n * phi.shape[1], -1)
    alignment = (2 * w.gamma / n) * np.einsum("jip,ji->p", jac_a, u_a)
    kappa = expansion_constant(width, w.binary)
    loss_plain = kappa * (w.alpha + (w.beta if w.labelled else 0.0))
    loss_plain += (w.gamma / n) * float(np.sum(u_a * u_a)) + 0.5 * w.l2 * float(theta @ theta)
    return {
        "a_scaled": -(w.alpha / n) * a,
        "phi_q": phi.T @ q_mat,
        "jac_phi": jac_phi,
        "u_weights": -(2 * w.gamma / n) * flat_a,
        "plain": alignment + w.l2 * theta,
        "loss_u": (-(w.alpha / n) * a @ phi - (2 * w.gamma / n) * u_a).ravel(),
        "loss_r": phi.ravel(),
        "loss_w": 0.5 * (phi.T @ q_mat @ phi).ravel(),
        "loss_plain": np.array(loss_plain),
    }


# -- the target's side ----------------------------------------------------------------------


def target_terms(
    u_b: np.ndarray,
    u_t: np.ndarray,
    codes_t: np.ndarray,
    theta: np.ndarray,
    w: LossWeights,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the target sends for a batch: ``W`` (d x d), ``R`` (C x d) and
    ``q = gamma/n ||U_B||^2 + lambda/2 ||theta_B||^2`` (shape (1,))."""
    wmat = (w.alpha / w.n) * u_b.T @ u_b
    r = np.zeros((codes_t.shape[1], u_b.shape[1]))
    if w.labelled:
        wmat = wmat + (w.beta / w.m) * u_t.T @ u_t
        r = -(w.beta / w.m) * linear_codes(codes_t, w.binary).T @ u_t
    q = (w.gamma / w.n) * float(np.sum(u_b * u_b)) + 0.5 * w.l2 * float(theta @ theta)
    return wmat, r, np.array([q])


def target_gradient_matrices(
    u_b: np.ndarray,
    jac_b: np.ndarray,
    u_t: np.ndarray,
    jac_t: np.ndarray,
    codes_t: np.ndarray,
    theta: np.ndarray,
    w: LossWeights,
) -> dict[str, np.ndarray]:
    """The target's plaintext factors of its gradient, given the source's ``c`` (n x d),
    ``M`` (d x d) and ``Phi`` (C x d)::

        dL/dtheta = vec(c) @ jac_c + vec(M) @ k_m + vec(Phi) @ k_phi + plain

    with ``k_m[(i, l)] = alpha/n sum_j u_j[l] J_j[i] + beta/m sum_k u_k[l] J_k[i]`` and
    ``k_phi[(c, i)] = -beta/m sum_k a_k[c] J_k[i]``.
    """
    n, dim = u_b.shape
    k_m = (w.alpha / n) * np.einsum("jl,jip->ilp", u_b, jac_b)
    k_phi = np.zeros((codes_t.shape[1], dim, jac_b.shape[2]))
    if w.labelled:
        k_m = k_m + (w.beta / w.m) * np.einsum("kl,kip->ilp", u_t, jac_t)
        a_t = linear_codes(codes_t, w.binary)
        k_phi = -(w.beta / w.m) * np.einsum("kc,kip->cip", a_t, jac_t)
    plain = (2 * w.gamma / n) * np.einsum("jip,ji->p", jac_b, u_b) + w.l2 * theta
    return {
        "jac_c": jac_b.reshape(n * dim, -1),
        "k_m": k_m.reshape(dim * dim, -1),
        "k_phi": k_phi.reshape(-1, jac_b.shape[2]),
        "plain": plain,
    }


# -- the loss written out, for tests and reports ------------------------------------------------


def taylor_loss(
    phi: np.ndarray,
    codes: np.ndarray,
    u_a: np.ndarray,
    u_b: np.ndarray,
    codes_t: np.ndarray,
    u_t: np.ndarray,
    theta_a: np.ndarray,
    theta_b: np.ndarray,
    w: LossWeights,
) -> float:
    """The batch loss computed directly from its definition (module docstring)."""
    width = phi.shape[0]
    q_mat = quadratic(width, w.binary)
    kappa = expansion_constant(width, w.binary)

    def expansion(y: np.ndarray, u: np.ndarray) -> float:
        p = u @ phi.T
        a = linear_codes(y, w.binary)
        return float(len(u) * kappa - np.sum(a * p) + 0.5 * np.einsum("jc,cd,jd->", p, q_mat, p))

    loss = (w.alpha / w.n) * expansion(codes, u_b)
    if w.labelled:
        loss += (w.beta / w.m) * expansion(codes_t, u_t)
    loss += (w.gamma / w.n) * float(np.sum((u_a - u_b) ** 2))
    return loss + 0.5 * w.l2 * float(theta_a @ theta_a + theta_b @ theta_b)
