"""Marvell: label-dependent Gaussian noise on returned gradients that minimises a bound on
any attacker's leak AUC (Li, Sun, Yang, Gao, Zhang, Xie, Smith, Wang, "Label Leakage and
Protection in Two-party Split Learning", ICLR 2022, Section 4).

For binary labels the label party sends ``g~ = g + eta`` with ``eta ~ N(0, Sigma_y)``, the
covariance depending on the row's label ``y``. Write ``P~1``, ``P~0`` for the distributions
of the perturbed gradients of the positive and negative class.

* **Theorem 1** (the bound): if ``KL(P~1 || P~0) + KL(P~0 || P~1) <= eps`` (``0 <= eps <
  4``), every attacker's score has leak AUC ``<= 1/2 + sqrt(eps)/2 - eps/8``
  (:func:`marvell_auc_bound`).
* **The problem** (Section 4.2): minimise that symmetrised KL over ``Sigma_0, Sigma_1``
  subject to a noise-power budget ``p * tr(Sigma_1) + (1 - p) * tr(Sigma_0) <= P`` (``p``:
  the batch's share of positives; the left side is the expected squared norm of the noise
  averaged over the batch's rows). Marvell approximates each class's gradients by a
  Gaussian ``N(g_bar_1, v I)``, ``N(g_bar_0, u I)`` (class means; ``v``, ``u``: the classes'
  mean per-coordinate variances in the batch) and sets ``P = s * ||g_bar_1 - g_bar_0||^2``
  (``s``: the power scale, ``noise_scale`` of :class:`~rengo.vfl.splitnn.SplitNNConfig`;
  the paper's experiments use ``s`` from 0.1 to 4).
* **Theorem 2** (the solution's shape): the optimal covariances are a rank-one term along
  ``Delta = g_bar_1 - g_bar_0`` plus an isotropic term,
  ``Sigma_k = (lambda1_k - lambda2_k) Delta Delta^T / ||Delta||^2 + lambda2_k I``
  (variance ``lambda1_k`` along ``Delta``, ``lambda2_k`` across it), where the four
  ``lambda`` solve, with ``g = ||Delta||^2``,

      minimise  (d-1) (u + l2_0)/(v + l2_1) + (d-1) (v + l2_1)/(u + l2_0)
                + (u + l1_0 + g)/(v + l1_1) + (v + l1_1 + g)/(u + l1_0)
      subject to p (l1_1 + (d-1) l2_1) + (1-p) (l1_0 + (d-1) l2_0) <= P,
                 l1_1 >= l2_1 >= 0,  l1_0 >= l2_0 >= 0,

  and the symmetrised KL at the optimum is half the objective minus ``d``
  (:func:`marvell_sum_kl`).

:func:`solve_marvell` solves the four-variable problem per batch. As in the paper's
solution, only the class of smaller spread gets noise across ``Delta`` (its variance there
at most the spread gap, which equalises the classes across ``Delta``) and the budget is
spent in full; that leaves two variables, which a grid plus SciPy's Nelder-Mead minimise
deterministically (the problem is not jointly convex, so no local method alone is
trusted; the paper alternates one-dimensional minimisations instead).
:func:`marvell_noise` applies it to one batch of cut-layer gradients. The bound holds for
the Gaussian approximation of the gradients, not as a formal guarantee on the real ones:
measure the leak AUC (:func:`rengo.vfl.splitnn.leak_auc`) too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.core.errors import DataError


@dataclass(frozen=True)
class MarvellCovariance:
    """The noise covariances Marvell chose for one batch (Theorem 2's form).

    ``Sigma_k = (along_k - across_k) * Delta Delta^T / ||Delta||^2 + across_k * I`` for
    class ``k`` (0: negative, 1: positive), ``Delta`` the difference of the class means.

    Attributes
    ----------
    negative_along, negative_across, positive_along, positive_across
        The variances ``lambda1_0``, ``lambda2_0``, ``lambda1_1``, ``lambda2_1``: along
        ``Delta`` and in every direction across it.
    sum_kl
        ``KL(P~1 || P~0) + KL(P~0 || P~1)`` of the Gaussian approximations after the noise:
        the quantity minimised (feed it to :func:`marvell_auc_bound`).
    power
        The budget ``P`` it was solved for.
    """

    negative_along: float
    negative_across: float
    positive_along: float
    positive_across: float
    sum_kl: float
    power: float

    def spent(self, positive_share: float, dim: int) -> float:
        """``p * tr(Sigma_1) + (1 - p) * tr(Sigma_0)``: the expected squared noise norm,
        averaged over a batch with ``positive_share`` positives, in ``dim`` dimensions."""
        across = dim - 1
        return positive_share * (self.positive_along + across * self.positive_across) + (
            1 - positive_share
        ) * (self.negative_along + across * self.negative_across)

    def matrix(self, direction: np.ndarray, positive: bool) -> np.ndarray:
        """The full covariance ``Sigma_1`` (``positive``) or ``Sigma_0`` along
        ``direction`` (any non-zero vector parallel to ``Delta``)."""
        unit = np.asarray(direction, dtype=np.float64)
        unit = unit / np.linalg.norm(unit)
        along, across = (
            (self.positive_along, self.positive_across)
            if positive
            else (self.negative_along, self.negative_across)
        )
        out: np.ndarray = (along - across) * np.outer(unit, unit) + across * np.eye(len(unit))
        return out


def marvell_objective(lambdas: np.ndarray, u: float, v: float, dim: int, gap: float) -> float:
    """Theorem 2's objective (see the module docstring): twice the symmetrised KL plus
    ``2 d``.

    Where a class has neither spread nor noise in some direction the limits are taken:
    equal point masses add nothing (the ratio pair is 2), unequal ones an infinite
    divergence.

    Parameters
    ----------
    lambdas
        ``(lambda1_0, lambda2_0, lambda1_1, lambda2_1)``: the negative class's variance
        along and across ``Delta``, then the positive class's.
    u, v
        Mean per-coordinate variance of the negative and positive class's gradients.
    dim
        The gradients' dimension ``d``.
    gap
        ``g = ||g_bar_1 - g_bar_0||^2``.

    Returns
    -------
    float
        The objective (``inf`` where a divergence is infinite).
    """
    along0, across0, along1, across1 = (float(x) for x in lambdas)
    a, b = u + along0, v + along1
    x, y = u + across0, v + across1
    across = (dim - 1) * _ratio_pair(x, y) if dim > 1 else 0.0  # d = 1: nothing across
    return across + _ratio_pair(a, b) + _over(gap, a) + _over(gap, b)


def _ratio_pair(x: float, y: float) -> float:
    """``x/y + y/x`` for variances ``x, y >= 0`` (2 when equal, even both 0)."""
    if x == y:
        return 2.0
    if x == 0 or y == 0:
        return float("inf")
    return x / y + y / x


def _over(gap: float, variance: float) -> float:
    """``gap / variance`` (0 when there is no gap)."""
    if gap == 0:
        return 0.0
    return gap / variance if variance > 0 else float("inf")


def marvell_sum_kl(
    covariance: MarvellCovariance, u: float, v: float, dim: int, gap: float
) -> float:
    """``KL(P~1 || P~0) + KL(P~0 || P~1)`` between ``N(g_bar_1, v I + Sigma_1)`` and
    ``N(g_bar_0, u I + Sigma_0)``: half of Theorem 2's objective minus ``dim``.

    Parameters
    ----------
    covariance
        The noise.
    u, v
        Mean per-coordinate variance of the negative and positive class's gradients.
    dim
        The gradients' dimension ``d``.
    gap
        ``||g_bar_1 - g_bar_0||^2``.

    Returns
    -------
    float
        The symmetrised KL divergence (``inf`` where a class has no spread and no noise).
    """
    lambdas = np.array(
        [
            covariance.negative_along,
            covariance.negative_across,
            covariance.positive_along,
            covariance.positive_across,
        ]
    )
    value = 0.5 * marvell_objective(lambdas, u, v, dim, gap) - dim
    return max(value, 0.0) if np.isfinite(value) else float("inf")


def marvell_auc_bound(sum_kl: float) -> float:
    """Li et al.'s Theorem 1: any attacker's leak AUC is at most
    ``1/2 + sqrt(eps)/2 - eps/8`` when the symmetrised KL is ``eps < 4`` (else 1).

    Parameters
    ----------
    sum_kl
        ``KL(P~1 || P~0) + KL(P~0 || P~1)`` (``eps``), non-negative.

    Returns
    -------
    float
        The bound on the leak AUC, in ``[0.5, 1]``.

    Raises
    ------
    DataError
        For a negative or NaN ``sum_kl``.
    """
    if not sum_kl >= 0:
        raise DataError(f"sum_kl must be >= 0, got {sum_kl!r}")
    if sum_kl >= 4:
        return 1.0
    return 0.5 + float(np.sqrt(sum_kl)) / 2 - sum_kl / 8


def solve_marvell(
    u: float, v: float, dim: int, gap: float, positive_share: float, power: float
) -> MarvellCovariance:
    """Marvell's optimal noise covariances for one batch (Theorem 2's four-variable problem).

    Parameters
    ----------
    u, v
        Mean per-coordinate variance of the negative and the positive class's gradients in
        the batch (the Gaussian approximation ``N(g_bar_0, u I)``, ``N(g_bar_1, v I)``).
    dim
        The gradients' dimension ``d``.
    gap
        ``g = ||g_bar_1 - g_bar_0||^2``, the squared distance of the class means.
    positive_share
        ``p``, the batch's share of positive rows, in ``(0, 1)``.
    power
        The budget ``P`` on ``p * tr(Sigma_1) + (1 - p) * tr(Sigma_0)``.

    Returns
    -------
    MarvellCovariance
        The four variances and the symmetrised KL they reach; all zero for ``power`` 0.

    Raises
    ------
    DataError
        For a negative or non-finite input, ``dim < 1`` or ``positive_share`` outside
        ``(0, 1)``.
    """
    values = {"u": u, "v": v, "gap": gap, "power": power}
    for name, value in values.items():
        if not (np.isfinite(value) and value >= 0):
            raise DataError(f"{name} must be finite and >= 0, got {value!r}")
    if dim < 1:
        raise DataError(f"dim must be >= 1, got {dim!r}")
    if not 0 < positive_share < 1:
        raise DataError(f"positive_share must be in (0, 1), got {positive_share!r}")
    if power == 0:
        zero = MarvellCovariance(0.0, 0.0, 0.0, 0.0, float("inf"), 0.0)
        return _with_sum_kl(zero, u, v, dim, gap)
    # Every term of the objective is a ratio, so it is unchanged when u, v, g and every
    # lambda are divided by one constant: solve at the scale where the largest is 1.
    unit = max(u, v, gap, power / dim)
    un, vn, gn, budget = u / unit, v / unit, gap / unit, power / unit
    # The objective is symmetric in the classes (swap u <-> v, lambda_0 <-> lambda_1), and
    # only the class of smaller spread gains from noise across Delta (the paper's
    # solution sets lambda2 of the other class to 0): solve with that class as "a".
    if un <= vn:
        share_a, ua, ub = 1 - positive_share, un, vn
    else:
        share_a, ua, ub = positive_share, vn, un
    along_a, across_a, along_b = _solve_reduced(ua, ub, dim, gn, share_a, budget)
    class_a, class_b = (along_a, across_a), (along_b, 0.0)
    negative, positive = (class_a, class_b) if un <= vn else (class_b, class_a)
    found = MarvellCovariance(
        negative[0] * unit,
        negative[1] * unit,
        positive[0] * unit,
        positive[1] * unit,
        float("nan"),
        power,
    )
    return _with_sum_kl(found, u, v, dim, gap)


def _solve_reduced(
    ua: float, ub: float, dim: int, gap: float, share_a: float, budget: float
) -> tuple[float, float, float]:
    """Theorem 2's problem with ``ua <= ub``, no noise across ``Delta`` for class b, and
    the budget spent (more noise along ``Delta`` for both classes always lowers the
    objective): two variables, ``t`` (class a's variance across ``Delta``, never beyond
    ``ub - ua``, which equalises the spreads there) and the split of the remaining power
    along ``Delta``. A grid over both, then Nelder-Mead from the best grid point; returns
    ``(lambda1_a, lambda2_a, lambda1_b)``."""
    from scipy.optimize import minimize  # scipy takes ~0.5 s to import: on first use

    share_b = 1 - share_a
    across = dim - 1
    t_max = 0.0 if across == 0 else min(budget / (share_a * dim), ub - ua)

    def lambdas(t_frac: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
        t = np.clip(t_frac, 0.0, 1.0) * t_max
        along_a_max = (budget - share_a * across * t) / share_a
        la = t + np.clip(w, 0.0, 1.0) * (along_a_max - t)
        lb = np.maximum(budget - share_a * across * t - share_a * la, 0.0) / share_b
        return la, t, lb

    def objective(t_frac: np.ndarray, w: np.ndarray) -> np.ndarray:
        la, t, lb = lambdas(t_frac, w)
        x, a, b = ua + t, ua + la, ub + lb
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            pair_across = np.where(x == ub, 2.0, x / ub + ub / x) if across else 0.0 * x
            pair_along = np.where(a == b, 2.0, a / b + b / a)
            value = across * pair_across + pair_along + gap / a + gap / b
        out: np.ndarray = np.where(np.isnan(value), np.inf, value)
        return out

    t_grid = np.linspace(0.0, 1.0, 65) if t_max > 0 else np.zeros(1)
    w_grid = np.linspace(0.0, 1.0, 1025)
    grid = objective(t_grid[:, None], w_grid[None, :])
    i, j = np.unravel_index(int(np.argmin(grid)), grid.shape)
    start, start_value = np.array([t_grid[i], w_grid[j]]), float(grid[i, j])
    # the point that beats isotropic noise of the same power (per-coordinate variance c):
    # class a across Delta min(c, ub - ua), class b nothing, what that saves along Delta
    c = budget / dim
    t_iso = min(c, t_max)
    extra = budget - share_a * across * t_iso - c
    along_a_max = (budget - share_a * across * t_iso) / share_a
    w_iso = (c + extra - t_iso) / max(along_a_max - t_iso, 1e-300)
    dominant = np.array([t_iso / t_max if t_max > 0 else 0.0, w_iso])
    dominant_value = float(objective(np.asarray(dominant[0]), np.asarray(dominant[1])))
    if dominant_value < start_value:
        start, start_value = dominant, dominant_value
    best, best_value = start, start_value
    with np.errstate(invalid="ignore", over="ignore"):  # inf at the domain's edges
        result = minimize(
            lambda z: float(objective(np.asarray(z[0]), np.asarray(z[1]))),
            start,
            method="Nelder-Mead",
            bounds=[(0.0, 1.0), (0.0, 1.0)],
            options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 2000},
        )
    if np.isfinite(result.fun) and result.fun < best_value:
        best = np.asarray(result.x, dtype=np.float64)
    la, t, lb = lambdas(np.asarray(best[0]), np.asarray(best[1]))
    return float(la), float(t), float(lb)


def _with_sum_kl(
    covariance: MarvellCovariance, u: float, v: float, dim: int, gap: float
) -> MarvellCovariance:
    return MarvellCovariance(
        covariance.negative_along,
        covariance.negative_across,
        covariance.positive_along,
        covariance.positive_across,
        marvell_sum_kl(covariance, u, v, dim, gap),
        covariance.power,
    )


def marvell_noise(
    gradients: np.ndarray, positive: np.ndarray, scale: float, rng: np.random.Generator
) -> tuple[np.ndarray, MarvellCovariance | None]:
    """One batch's gradients with Marvell's noise added (power ``P = scale * g``).

    Parameters
    ----------
    gradients
        ``(rows, d)`` exact cut-layer gradients.
    positive
        ``(rows,)`` booleans: which rows are of the positive class.
    scale
        ``s`` in ``P = s * ||g_bar_1 - g_bar_0||^2``.
    rng
        The label party's noise generator (one normal per row, then ``rows * d``, in this
        order, whatever the labels: reproducible given the seed).

    Returns
    -------
    tuple
        ``(noisy gradients as float64, the covariances used)``. A batch of a single class
        has no class-mean difference to hide: it gets isotropic noise of total power
        ``scale`` times its mean squared gradient norm, and ``None`` for the covariances
        (a choice of rengo's; the paper does not cover this case).

    Raises
    ------
    DataError
        If ``positive`` does not hold one flag per row.
    """
    g = np.asarray(gradients, dtype=np.float64)
    flags = np.asarray(positive, dtype=bool)
    if flags.shape != (len(g),):
        raise DataError(f"one label per gradient row needed, got {flags.shape} for {g.shape}")
    rows, dim = g.shape
    along_draw = rng.standard_normal(rows)
    isotropic_draw = rng.standard_normal((rows, dim))
    if flags.all() or not flags.any():
        power = scale * float(np.mean(np.sum(g * g, axis=1)))
        return g + isotropic_draw * np.sqrt(power / dim), None
    mean1, mean0 = g[flags].mean(axis=0), g[~flags].mean(axis=0)
    delta = mean1 - mean0
    gap = float(delta @ delta)
    v = float(g[flags].var(axis=0).mean())
    u = float(g[~flags].var(axis=0).mean())
    covariance = solve_marvell(u, v, dim, gap, float(flags.mean()), scale * gap)
    if gap == 0:
        return g, covariance
    unit = delta / np.sqrt(gap)
    along = np.where(flags, covariance.positive_along, covariance.negative_along)
    across = np.where(flags, covariance.positive_across, covariance.negative_across)
    extra_along = np.sqrt(np.maximum(along - across, 0.0))
    noise = (along_draw * extra_along)[:, None] * unit + isotropic_draw * np.sqrt(across)[:, None]
    return g + noise, covariance
