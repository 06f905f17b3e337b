"""A plaintext gradient-boosted tree learner, written separately from rengo's, for the
lossless test: XGBoost's split rule on pre-binned columns, level-wise growth, learned
default directions for missing values, gradients rounded to a fixed point as SecureBoost's
label party rounds them. Slow and simple on purpose (loops over every threshold)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Column:
    """One binned column of one party: bin per row (``missing`` = the missing bin)."""

    party: int
    feature: int
    bins: np.ndarray
    missing: int


@dataclass
class Node:
    depth: int
    rows: np.ndarray  # every row at the node (training and not)
    party: int = -1
    feature: int = -1
    bin: int = -1
    missing_left: bool = False
    left: int = -1
    right: int = -1
    value: np.ndarray | None = None


def _fixed(values: np.ndarray, bits: int) -> np.ndarray:
    return np.rint(values * 2.0**bits).astype(np.int64)


def gradients(objective: str, y: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if objective == "binary":
        p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        return (p - y)[:, None], np.maximum(p * (1.0 - p), 1e-15)[:, None]
    if objective == "multiclass":
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        onehot = np.eye(raw.shape[1])[y.astype(int)]
        return p - onehot, np.maximum(p * (1.0 - p), 1e-15)
    return (raw[:, 0] - y)[:, None], np.ones((len(y), 1))


def start(objective: str, y: np.ndarray, outputs: int) -> np.ndarray:
    if objective == "binary":
        p = min(max(y.mean(), 1e-15), 1 - 1e-15)
        return np.array([np.log(p / (1 - p))])
    if objective == "multiclass":
        prior = np.maximum(np.bincount(y.astype(int), minlength=outputs) / len(y), 1e-15)
        return np.log(prior) - np.log(prior).mean()
    return np.array([y.mean()])


def _gain(gl, hl, g, h, lam, gamma):  # type: ignore[no-untyped-def]
    gr, hr = g - gl, h - hl
    f = lambda v: v.astype(np.float64) / 2.0**BITS  # noqa: E731
    a, b, c, d, e, k = f(gl), f(hl), f(gr), f(hr), f(g), f(h)
    score = a * a / (b + lam) + c * c / (d + lam) - e * e / (k + lam)
    return 0.5 * score.sum() - gamma, b.sum(), d.sum()


BITS = 32


def grow(columns, active, g, h, settings):  # type: ignore[no-untyped-def]
    """One tree; ``active`` marks the rows whose g, h count; returns its nodes."""
    rows = len(active)
    nodes = [Node(0, np.arange(rows))]
    level = [0]
    lam, gamma = settings["l2"], settings["gamma"]
    mcw, msl = settings["min_child_weight"], settings["min_samples_leaf"]
    for depth in range(settings["max_depth"]):
        upcoming = []
        for n in level:
            node = nodes[n]
            train = node.rows[active[node.rows]]
            G, H = g[train].sum(axis=0), h[train].sum(axis=0)
            if len(train) < 2 * msl or (H.astype(float) / 2.0**BITS).sum() < 2 * mcw:
                continue
            best, choice = -np.inf, None
            for col in columns:
                b_col = col.bins[train]
                missing_rows = b_col == col.missing
                m_count = int(missing_rows.sum())
                gm, hm = g[train][missing_rows].sum(axis=0), h[train][missing_rows].sum(axis=0)
                for b in range(col.missing):
                    if not (b_col == b).any():
                        continue
                    in_left = (b_col <= b) & ~missing_rows
                    below = int(in_left.sum())
                    above = len(train) - below - m_count
                    gl, hl = g[train][in_left].sum(axis=0), h[train][in_left].sum(axis=0)
                    options = []
                    if m_count == 0:
                        if above and min(below, above) >= msl:
                            options.append((below >= above, gl, hl))
                    else:
                        if min(below, above + m_count) >= msl:
                            options.append((False, gl, hl))
                        if above and min(below + m_count, above) >= msl:
                            options.append((True, gl + gm, hl + hm))
                    for missing_left, a, c in options:
                        gain, hl_sum, hr_sum = _gain(a, c, G, H, lam, gamma)
                        if hl_sum < mcw or hr_sum < mcw:
                            continue
                        if gain > best:  # strict: the first in (party, column, bin) order wins
                            best, choice = gain, (col, b, missing_left)
            if choice is None or not best > 0:
                continue
            col, b, missing_left = choice
            node.party, node.feature, node.bin, node.missing_left = (
                col.party,
                col.feature,
                b,
                missing_left,
            )
            values = col.bins[node.rows]
            left = np.where(values == col.missing, missing_left, values <= b)
            node.left, node.right = len(nodes), len(nodes) + 1
            nodes.append(Node(depth + 1, node.rows[left]))
            nodes.append(Node(depth + 1, node.rows[~left]))
            upcoming += [node.left, node.right]
        level = upcoming
    for node in nodes:
        if node.left < 0:
            train = node.rows[active[node.rows]]
            G = g[train].sum(axis=0).astype(float) / 2.0**BITS
            H = h[train].sum(axis=0).astype(float) / 2.0**BITS
            node.value = -G / (H + lam)
    return nodes


def boost(columns, y, objective, settings, train_mask, tree_rows):  # type: ignore[no-untyped-def]
    """Every tree; ``tree_rows(t)`` gives tree t's training rows."""
    outputs = int(y.max()) + 1 if objective == "multiclass" else 1
    raw = np.tile(start(objective, y[train_mask], outputs), (len(y), 1))
    trees = []
    for t in range(settings["n_trees"]):
        active = np.zeros(len(y), dtype=bool)
        active[tree_rows(t)] = True
        g_f, h_f = gradients(objective, y, raw)
        g, h = _fixed(g_f, BITS), _fixed(h_f, BITS)
        g[~active], h[~active] = 0, 0
        nodes = grow(columns, active, g, h, settings)
        leaf = np.zeros(len(y), dtype=int)
        for k, node in enumerate(nodes):
            if node.left < 0:
                leaf[node.rows] = k
        values = np.array([n.value if n.value is not None else np.zeros(outputs) for n in nodes])
        raw = raw + settings["learning_rate"] * values[leaf]
        trees.append(nodes)
    return trees
