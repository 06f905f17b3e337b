"""XGBoost's split rule on binned histograms: candidates, gains, leaf values, the best split.

Plain functions shared by the label party (its own columns, in plaintext) and the feature
parties (which enumerate their candidates from row counts they hold in plaintext, and add
the encrypted sums). Chen & Guestrin 2016: a split of a node with gradient and hessian sums
``G, H`` into ``(G_L, H_L)`` and ``(G_R, H_R)`` gains
``1/2 [G_L^2/(H_L+l2) + G_R^2/(H_R+l2) - G^2/(H+l2)] - gamma`` (summed over outputs for
multi-output trees); a leaf's value is ``-G/(H+l2)``.

Candidates of one column at one node, in their canonical order: each threshold bin ``b``
holding rows (the lowest threshold of each distinct partition, so no two candidates split
the rows alike), first with missing values sent right, then left (only when the node has
missing values; otherwise they go to the child with more rows, ties left, as the only
candidate for ``b``). Both children must keep ``min_samples_leaf`` training rows. Sums
stay integers (quantised gradients) until the gain, so every party that evaluates a
candidate gets the very same float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.vfl.secureboost.config import SecureBoostConfig


@dataclass(frozen=True)
class Candidate:
    """One way to split a node on one column: rows in value bins ``<= bin`` go left, and
    missing values go left when ``missing_left``."""

    feature: int
    bin: int
    missing_left: bool


def column_candidates(counts: np.ndarray, min_samples_leaf: int) -> list[tuple[int, bool]]:
    """``(threshold bin, missing_left)`` candidates of one column, in canonical order.

    ``counts`` holds the node's training rows per value bin, then (last) its missing rows.
    """
    values = np.asarray(counts[:-1], dtype=np.int64)
    missing = int(counts[-1])
    present = int(values.sum())
    out: list[tuple[int, bool]] = []
    below = 0
    for b in np.flatnonzero(values).tolist():
        below += int(values[b])
        above = present - below
        if missing == 0:
            if above and min(below, above) >= min_samples_leaf:
                out.append((b, below >= above))
            continue
        if min(below, above + missing) >= min_samples_leaf:
            out.append((b, False))
        if above and min(below + missing, above) >= min_samples_leaf:
            out.append((b, True))
    return out


def node_candidates(counts: list[np.ndarray], min_samples_leaf: int) -> list[Candidate]:
    """Every column's candidates at one node, column by column (canonical order)."""
    return [
        Candidate(j, b, left)
        for j, column in enumerate(counts)
        for b, left in column_candidates(column, min_samples_leaf)
    ]


def left_sums(histogram: np.ndarray, candidates: list[tuple[int, bool]]) -> np.ndarray:
    """The left child's sums (candidates x ...) of one column's candidates, from its
    per-bin sums (value bins then the missing bin, x ...)."""
    cumulative = np.cumsum(histogram[:-1], axis=0)
    out = np.empty((len(candidates), *histogram.shape[1:]), dtype=histogram.dtype)
    for k, (b, missing_left) in enumerate(candidates):
        out[k] = cumulative[b] + histogram[-1] if missing_left else cumulative[b]
    return out


def to_float(sums: np.ndarray, precision_bits: int) -> np.ndarray:
    """Quantised integer sums (int64 or Python ints) as floats."""
    array = np.asarray(sums)
    if array.dtype == object:
        floats = np.array([float(v) for v in array.ravel().tolist()], dtype=np.float64)
        return np.ldexp(floats.reshape(array.shape), -precision_bits)
    return np.ldexp(array.astype(np.float64), -precision_bits)


def split_gains(
    g_left: np.ndarray,
    h_left: np.ndarray,
    g_total: np.ndarray,
    h_total: np.ndarray,
    config: SecureBoostConfig,
    precision_bits: int,
) -> np.ndarray:
    """Each candidate's gain (``-inf`` where a child's hessian sum is below
    ``min_child_weight``), from integer left sums (candidates x outputs) and the node's
    integer totals (outputs)."""
    g_right = np.asarray(g_total)[None, :] - np.asarray(g_left)
    h_right = np.asarray(h_total)[None, :] - np.asarray(h_left)
    gl, hl = to_float(g_left, precision_bits), to_float(h_left, precision_bits)
    gr, hr = to_float(g_right, precision_bits), to_float(h_right, precision_bits)
    g, h = (
        to_float(np.asarray(g_total), precision_bits),
        to_float(np.asarray(h_total), precision_bits),
    )
    lam = config.l2
    score = gl * gl / (hl + lam) + gr * gr / (hr + lam) - (g * g / (h + lam))[None, :]
    gains = 0.5 * score.sum(axis=1) - config.gamma
    feasible = (hl.sum(axis=1) >= config.min_child_weight) & (
        hr.sum(axis=1) >= config.min_child_weight
    )
    return np.where(feasible, gains, -np.inf)


def leaf_values(
    g_total: np.ndarray, h_total: np.ndarray, config: SecureBoostConfig, precision_bits: int
) -> np.ndarray:
    """A leaf's value per output, ``-G / (H + l2)`` (before the learning rate)."""
    g = to_float(np.asarray(g_total), precision_bits)
    h = to_float(np.asarray(h_total), precision_bits)
    return np.asarray(-g / (h + config.l2))


def can_split(
    rows: int, h_total: np.ndarray, config: SecureBoostConfig, precision_bits: int
) -> bool:
    """Whether a node has enough training rows and hessian for two admissible children."""
    hessian = float(to_float(np.asarray(h_total), precision_bits).sum())
    return rows >= 2 * config.min_samples_leaf and hessian >= 2 * config.min_child_weight


@dataclass(frozen=True)
class BestSplit:
    """The winning party (index into label party then feature parties), its gain, and the
    tied candidate indices of that party (its canonical or opaque ids)."""

    party: int
    gain: float
    tied: tuple[int, ...]


def best_split(gains_by_party: list[np.ndarray]) -> BestSplit | None:
    """The best positive gain over every party's candidates; on an exact tie the earlier
    party wins, and the party itself resolves ties between its own candidates (its lowest
    canonical index). ``None`` when no candidate gains anything."""
    best = -np.inf
    for gains in gains_by_party:
        if len(gains):
            best = max(best, float(np.max(gains)))
    if not best > 0:
        return None
    for party, gains in enumerate(gains_by_party):
        if len(gains):
            tied = np.flatnonzero(gains == best)
            if len(tied):
                return BestSplit(party, best, tuple(int(t) for t in tied))
    return None
