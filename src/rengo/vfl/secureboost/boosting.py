"""The label party's boosting loop and level-wise tree growing, whoever the other parties are.

:func:`boost` runs the rounds (gradients, one tree, scores, losses, early stopping) and
:func:`grow_tree` grows one tree level by level: at each depth it scores the label party's
own candidates in plaintext and, through a :class:`HostLink`, every feature party's
candidates (decrypted sums in an order only that party knows), and splits each node on the
best one. With :class:`NoHosts` the same code trains on the label party's columns alone
(no message at all), which is both the plaintext twin the protocol must equal and the
empty coalition of party valuation.
"""

from __future__ import annotations

import itertools
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import numpy as np

from rengo.core.errors import DataError, ProtocolError
from rengo.data.class_weights import class_weights, weigh_rows
from rengo.vfl.early_stopping import (
    best_epoch,
    should_stop,
    validation_share,
    warn_if_never_stopped,
)
from rengo.vfl.progress import ProgressFn, TrainingReporter
from rengo.vfl.secureboost.binning import FeatureBins, fit_bins
from rengo.vfl.secureboost.config import SecureBoostConfig
from rengo.vfl.secureboost.encoding import quantize, require_exact_sums
from rengo.vfl.secureboost.model import SecureBoostGuestModel, TreeNode
from rengo.vfl.secureboost.objectives import (
    check_labels,
    gradients,
    initial_scores,
    loss,
    n_outputs,
)
from rengo.vfl.secureboost.rows import tree_rows
from rengo.vfl.secureboost.splits import (
    BestSplit,
    Candidate,
    best_split,
    can_split,
    column_candidates,
    leaf_values,
    left_sums,
    split_gains,
)

log = logging.getLogger("rengo.vfl.secureboost")


EPOCH_UNIT = "tree"
"""What one of boosting's epochs (a boosting round) is called in progress and run records."""


@dataclass(frozen=True)
class CandidateSums:
    """One feature party's candidates of one node as the label party sees them: integer
    left-child sums (candidates x outputs), in that party's secret order."""

    g: np.ndarray
    h: np.ndarray


@dataclass(frozen=True)
class HostSplitReply:
    """A feature party's answer for a node it won: the rows going left (over the node's
    rows, ascending), the candidate it picked among the tied ones, its column's anonymous
    id."""

    left: np.ndarray
    candidate: int
    feature: int


class HostLink(Protocol):
    """The label party's exchanges with the feature parties while growing one tree."""

    hosts: Sequence[str]

    def start_tree(
        self, tree: int, active: np.ndarray, g: np.ndarray, h: np.ndarray, outputs: int
    ) -> None:
        """Send the tree's quantised gradients and hessians (encrypted)."""

    def open_level(
        self, depth: int, nodes: list[list[int]], positions: np.ndarray
    ) -> list[list[CandidateSums | None]]:
        """Send the nodes to split (``[node, parent, sibling]``) and every row's node;
        return each host's candidate sums per node (``None``: no candidate)."""

    def choose(
        self, chosen: dict[str, dict[int, list[int]]], rows_at: dict[int, int]
    ) -> dict[str, dict[int, HostSplitReply]]:
        """Tell each host which of its candidates won which node; return its answers."""

    def end_tree(self, more: bool) -> None:
        """Tell every host whether another tree follows."""


class NoHosts:
    """A :class:`HostLink` with no feature party: nothing is sent, nothing received."""

    hosts: Sequence[str] = ()

    def start_tree(
        self, tree: int, active: np.ndarray, g: np.ndarray, h: np.ndarray, outputs: int
    ) -> None:
        """Nothing to send."""

    def open_level(
        self, depth: int, nodes: list[list[int]], positions: np.ndarray
    ) -> list[list[CandidateSums | None]]:
        """No host candidates."""
        return []

    def choose(
        self, chosen: dict[str, dict[int, list[int]]], rows_at: dict[int, int]
    ) -> dict[str, dict[int, HostSplitReply]]:
        """No host ever wins."""
        return {}

    def end_tree(self, more: bool) -> None:
        """Nothing to send."""


def plain_histograms(
    binned: np.ndarray, g: np.ndarray, h: np.ndarray, sizes: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per column, ``(counts, G, H)`` per bin of the given rows (exact integer sums)."""
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    total = int(offsets[-1])
    columns = binned.shape[1]
    segments = (binned.astype(np.int64) + offsets[:-1][None, :]).ravel()
    counts = np.bincount(segments, minlength=total).astype(np.int64)
    g_sum = np.zeros((total, g.shape[1]), dtype=np.int64)
    h_sum = np.zeros((total, h.shape[1]), dtype=np.int64)
    np.add.at(g_sum, segments, np.repeat(g, columns, axis=0))
    np.add.at(h_sum, segments, np.repeat(h, columns, axis=0))
    return [(counts[lo:hi], g_sum[lo:hi], h_sum[lo:hi]) for lo, hi in itertools.pairwise(offsets)]


def own_candidates(
    bins: FeatureBins, binned: np.ndarray, g: np.ndarray, h: np.ndarray, min_samples_leaf: int
) -> tuple[list[Candidate], np.ndarray, np.ndarray]:
    """The label party's candidates at one node (canonical order) with their integer
    left-child sums, from its rows at the node (binned, g, h)."""
    sizes = np.array([bins.value_bins(j) + 1 for j in range(bins.n_features)])
    candidates: list[Candidate] = []
    g_parts, h_parts = [], []
    for j, (counts, g_hist, h_hist) in enumerate(plain_histograms(binned, g, h, sizes)):
        column = column_candidates(counts, min_samples_leaf)
        candidates.extend(Candidate(j, b, left) for b, left in column)
        g_parts.append(left_sums(g_hist, column))
        h_parts.append(left_sums(h_hist, column))
    empty = np.zeros((0, g.shape[1]), dtype=np.int64)
    return (
        candidates,
        np.concatenate(g_parts) if g_parts else empty,
        np.concatenate(h_parts) if h_parts else empty,
    )


@dataclass
class _Node:
    """A node being grown: its training rows' sums and, once split, its split."""

    node: int
    parent: int
    g: np.ndarray
    h: np.ndarray
    rows: int
    owner: str = ""
    feature: int = -1
    threshold: float = float("nan")
    missing_left: bool = False
    label: str = ""
    gain: float = 0.0
    children: tuple[int, int] = (-1, -1)


def grow_tree(
    link: HostLink,
    name: str,
    config: SecureBoostConfig,
    bins: FeatureBins,
    binned: np.ndarray,
    active: np.ndarray,
    g: np.ndarray,
    h: np.ndarray,
    feature_names: Sequence[str] = (),
    level_done: Callable[[int], None] | None = None,
) -> tuple[tuple[TreeNode, ...], np.ndarray]:
    """Grow one tree level by level with the feature parties behind ``link``.

    Parameters
    ----------
    link
        The exchanges with the feature parties (:class:`NoHosts`: the label party alone).
    name
        The label party (the owner of its own splits).
    config
        The settings (depth, split rule, ``min_samples_leaf``, precision).
    bins, binned
        The label party's cut points and every aligned row's bins (training, held out and
        not drawn for this tree: all of them are routed down the tree).
    active
        The rows this tree is grown on (ascending), whose sums count.
    g, h
        Their quantised gradients and hessians, rows x outputs.
    feature_names
        The label party's column names, labelling its own splits (see
        :func:`own_column_label`).
    level_done
        Called with each depth (0-based) once its nodes are split (a progress display).

    Returns
    -------
    tuple
        The tree's nodes (by id, breadth first) and every aligned row's leaf id.

    Raises
    ------
    ProtocolError
        If a feature party's rows for a split disagree with the sums it sent for it.
    """
    rows, outputs, p_bits = len(binned), g.shape[1], config.precision_bits
    positions = np.zeros(rows, dtype=np.int32)
    is_active = np.zeros(rows, dtype=bool)
    is_active[active] = True
    g_rows = np.zeros((rows, outputs), dtype=np.int64)
    h_rows = np.zeros((rows, outputs), dtype=np.int64)
    g_rows[active], h_rows[active] = g, h
    nodes = {0: _Node(0, -1, g.sum(axis=0), h.sum(axis=0), len(active))}
    level = [0]
    for depth in range(config.max_depth):
        open_nodes = [n for n in level if can_split(nodes[n].rows, nodes[n].h, config, p_bits)]
        described = [[n, nodes[n].parent, _sibling(nodes, n)] for n in open_nodes]
        host_sums = link.open_level(depth, described, positions)
        if not open_nodes:
            break
        own = {}
        for n in open_nodes:
            members = np.flatnonzero(is_active & (positions == n))
            own[n] = own_candidates(
                bins, binned[members], g_rows[members], h_rows[members], config.min_samples_leaf
            )
        decisions: dict[int, BestSplit | None] = {}
        chosen: dict[str, dict[int, list[int]]] = {host: {} for host in link.hosts}
        for i, n in enumerate(open_nodes):
            node = nodes[n]
            _, g_left, h_left = own[n]
            gains = [split_gains(g_left, h_left, node.g, node.h, config, p_bits)]
            for k in range(len(link.hosts)):
                sums = host_sums[k][i]
                gains.append(
                    np.empty(0)
                    if sums is None
                    else split_gains(sums.g, sums.h, node.g, node.h, config, p_bits)
                )
            best = decisions[n] = best_split(gains)
            if best is not None and best.party > 0:
                chosen[link.hosts[best.party - 1]][n] = list(best.tied)
        rows_at = {n: int((positions == n).sum()) for n in open_nodes}
        replies = link.choose(chosen, rows_at)
        next_level: list[int] = []
        for i, n in enumerate(open_nodes):
            best = decisions[n]
            if best is None:
                continue
            node = nodes[n]
            at_node = np.flatnonzero(positions == n)
            if best.party == 0:
                candidates, g_all, h_all = own[n]
                k = best.tied[0]
                candidate = candidates[k]
                left = bins.goes_left(
                    binned[at_node], candidate.feature, candidate.bin, candidate.missing_left
                )
                g_left, h_left = np.asarray(g_all[k]), np.asarray(h_all[k])
                node.owner, node.feature = name, candidate.feature
                node.threshold = bins.threshold(candidate.feature, candidate.bin)
                node.missing_left = candidate.missing_left
                node.label = own_column_label(name, candidate.feature, feature_names)
            else:
                host = link.hosts[best.party - 1]
                reply = replies[host][n]
                sums = host_sums[best.party - 1][i]
                assert sums is not None
                left = reply.left
                g_left = np.asarray(sums.g[reply.candidate], dtype=np.int64)
                h_left = np.asarray(sums.h[reply.candidate], dtype=np.int64)
                went = at_node[left & is_active[at_node]]
                if not (
                    np.array_equal(g_rows[went].sum(axis=0), g_left)
                    and np.array_equal(h_rows[went].sum(axis=0), h_left)
                ):
                    raise ProtocolError(
                        f"{host}'s rows for node {n} do not match the sums of its chosen split"
                    )
                node.owner, node.label = host, f"{host}#{reply.feature}"
            node.gain = best.gain
            left_id, right_id = len(nodes), len(nodes) + 1
            node.children = (left_id, right_id)
            positions[at_node[left]] = left_id
            positions[at_node[~left]] = right_id
            left_rows = int(is_active[at_node[left]].sum())
            g_l, h_l = g_left.astype(np.int64), h_left.astype(np.int64)
            nodes[left_id] = _Node(left_id, n, g_l, h_l, left_rows)
            nodes[right_id] = _Node(right_id, n, node.g - g_l, node.h - h_l, node.rows - left_rows)
            next_level += [left_id, right_id]
        level = next_level
        if level_done is not None:
            level_done(depth)
    return tuple(_tree_node(nodes[n], config) for n in sorted(nodes)), positions


def own_column_label(party: str, column: int, feature_names: Sequence[str] = ()) -> str:
    """How the label party's column ``column`` is named in its trees and feature
    importance: ``party:<name>`` where its table names its columns (a job file's CSV header,
    a DataFrame's columns), else ``party:x<column>``."""
    if len(feature_names) > column and feature_names[column]:
        return f"{party}:{feature_names[column]}"
    return f"{party}:x{column}"


def _sibling(nodes: dict[int, _Node], node: int) -> int:
    parent = nodes[node].parent
    if parent < 0:
        return -1
    left, right = nodes[parent].children
    return right if node == left else left


def _tree_node(node: _Node, config: SecureBoostConfig) -> TreeNode:
    if not node.owner:
        value = leaf_values(node.g, node.h, config, config.precision_bits)
        return TreeNode(node.node, value=tuple(float(v) for v in value))
    return TreeNode(
        node.node,
        owner=node.owner,
        left=node.children[0],
        right=node.children[1],
        feature=node.feature,
        threshold=node.threshold,
        missing_left=node.missing_left,
        feature_label=node.label,
        gain=node.gain,
    )


def leaf_table(nodes: Sequence[TreeNode], outputs: int) -> np.ndarray:
    """Leaf values by node id (zeros for split nodes), nodes x outputs."""
    table = np.zeros((len(nodes), outputs))
    for node in nodes:
        if node.is_leaf:
            table[node.node] = node.value
    return table


@dataclass(frozen=True)
class BoostProgress:
    """The label party's boosting state after ``len(trees)`` completed rounds: what a
    resumed run continues from (see :mod:`rengo.vfl.secureboost.resume`).

    ``raw`` holds every aligned row's raw scores (rows x outputs, starting score plus the
    learning rate times every tree's leaf value so far): the next tree's gradients follow
    from it exactly. ``stopped`` says the last round ended training (early stopping or the
    last tree).
    """

    trees: tuple[tuple[TreeNode, ...], ...]
    raw: np.ndarray
    train_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    stopped: bool = False


def _warn_of_classes_held_out_only(
    name: str, config: SecureBoostConfig, y: np.ndarray, training: np.ndarray
) -> None:
    """Warn when a multiclass code has rows in the validation share but none in training:
    the model keeps an output for it (scored, and counted in the validation loss) but never
    learns it."""
    if config.objective != "multiclass":
        return
    held_only = sorted(set(np.unique(y[~training]).tolist()) - set(np.unique(y[training]).tolist()))
    if held_only:
        codes = ", ".join(str(int(c)) for c in held_only)
        warnings.warn(
            f"{name}: multiclass codes {codes} have rows only in the held-out share "
            f"(validation_fraction = {config.validation_fraction}): the model never learns "
            "them and gives them a near-zero probability; lower validation_fraction or "
            "gather more rows of those classes",
            UserWarning,
            stacklevel=3,
        )


def _row_weights(
    name: str, config: SecureBoostConfig, y: np.ndarray, training: np.ndarray, outputs: int
) -> np.ndarray | None:
    """Each row's class weight (``config.class_weight``; balanced from the training rows'
    counts), or None unweighted. Worked out and used at the label party only."""
    weights = class_weights(y[training], config.class_weight, name, max(outputs, 2))
    return None if weights is None else weigh_rows(y, weights)


def _part(weights: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if weights is None else weights[rows]


def boost(
    link: HostLink,
    name: str,
    features: np.ndarray,
    labels: np.ndarray,
    config: SecureBoostConfig,
    seed: int,
    *,
    progress: ProgressFn | None = None,
    resume: BoostProgress | None = None,
    after_tree: Callable[[BoostProgress], None] | None = None,
    feature_names: Sequence[str] = (),
) -> SecureBoostGuestModel:
    """The label party's boosting rounds with the feature parties behind ``link``.

    Parameters
    ----------
    link
        The exchanges with the feature parties (:class:`NoHosts`: train alone).
    name
        The label party's name (error messages, feature labels).
    features, labels
        Its aligned rows (NaN: missing) and their labels.
    config
        The settings.
    seed
        Fixes the held-out rows and each tree's subsample (every party derives them).
    progress
        Told after each depth level of a tree (``"depth d/max_depth"``) and after each
        tree, with the training loss: a tree is an epoch (shown as ``"tree t/n_trees"``)
        of ``max_depth`` batches (see :mod:`rengo.vfl.progress`).
    resume
        The state after the rounds an interrupted run completed: boosting continues with the
        next tree, exactly as if it had never stopped (``None``: from the first tree).
    after_tree
        Called with the state after every completed round, once every feature party knows
        whether another tree follows (a resumable run checkpoints it).
    feature_names
        The label party's column names (empty: none), naming its own columns in the trees
        and in feature importance; a feature party's columns keep their anonymous ids.

    Returns
    -------
    SecureBoostGuestModel
        The trees, the starting score and the losses.

    Raises
    ------
    DataError
        For labels the objective cannot use, an entirely empty column, no training row, a
        validation share that holds out no row, or a ``resume`` state that does not fit the
        rows.

    Warns
    -----
    UserWarning
        When ``validation_fraction`` holds rows out but ``n_iter_no_change`` is 0: they
        are lost to training without ever stopping it.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{name}: features must be a 2-D table, got shape {x.shape}")
    y = check_labels(labels, config.objective, name)
    if len(y) != len(x):
        raise DataError(f"{name}: {len(y)} labels for {len(x)} aligned rows")
    if feature_names and len(feature_names) != x.shape[1]:
        raise DataError(
            f"{name}: {len(feature_names)} column names for {x.shape[1]} feature columns"
        )
    held_out = validation_share(seed, len(x), config.validation_fraction, name)
    training = ~held_out
    if not training.any():
        raise DataError(f"{name}: no aligned rows to train on")
    if resume is None:
        fraction, held = config.validation_fraction, int(held_out.sum())
        warn_if_never_stopped(name, fraction, held, len(x), config.n_iter_no_change)
    bins = fit_bins(x[training], config.max_bin, party=name)
    binned = bins.transform(x)
    outputs = n_outputs(config.objective, y)  # a class may have held-out rows only
    _warn_of_classes_held_out_only(name, config, y, training)
    weights = _row_weights(name, config, y, training, outputs)
    start = initial_scores(config.objective, y[training], outputs, _part(weights, training))
    raw = np.tile(start, (len(x), 1))
    trees: list[tuple[TreeNode, ...]] = []
    train_losses: list[float] = []
    validation_losses: list[float] = []
    stopped = False
    if resume is not None:
        if resume.raw.shape != raw.shape:
            raise DataError(
                f"{name}: the checkpoint holds scores of shape {resume.raw.shape}, the aligned "
                f"rows give {raw.shape}: resume with the table the run started with"
            )
        raw = np.array(resume.raw, dtype=np.float64)
        trees = list(resume.trees)
        train_losses = list(resume.train_losses)
        validation_losses = list(resume.validation_losses)
        stopped = resume.stopped
    reporter = TrainingReporter(
        progress, name, config.n_trees, config.max_depth, unit=EPOCH_UNIT, batch_unit="depth"
    )
    for t in range(len(trees), len(trees) if stopped else config.n_trees):
        started = time.perf_counter()
        active = tree_rows(seed, t, training, config.subsample)
        g, h = gradients(config.objective, y[active], raw[active])
        if weights is not None:  # the label party's class weights: g and h of the weighted loss
            g, h = g * weights[active, None], h * weights[active, None]
        if config.objective == "regression":
            require_exact_sums(name, g, len(active), config.precision_bits)
        g_int = quantize(g, config.precision_bits)
        h_int = quantize(h, config.precision_bits)
        link.start_tree(t, active, g_int, h_int, outputs)
        last_loss = train_losses[-1] if train_losses else None
        nodes, leaves = grow_tree(
            link,
            name,
            config,
            bins,
            binned,
            active,
            g_int,
            h_int,
            feature_names,
            partial(reporter.batch, t, loss=last_loss),
        )
        trees.append(nodes)
        raw += config.learning_rate * leaf_table(nodes, outputs)[leaves]
        train_losses.append(
            loss(config.objective, y[training], raw[training], _part(weights, training))
        )
        if held_out.any():
            validation_losses.append(
                loss(config.objective, y[held_out], raw[held_out], _part(weights, held_out))
            )
        history = validation_losses if held_out.any() else train_losses
        more = t + 1 < config.n_trees and not should_stop(
            history, config.n_iter_no_change, config.tol
        )
        link.end_tree(more)
        if after_tree is not None:
            after_tree(
                BoostProgress(
                    tuple(trees), raw.copy(), list(train_losses), list(validation_losses), not more
                )
            )
        log.info(
            "tree %d/%d grown in %.1f s: train loss %.5f%s",
            t + 1,
            config.n_trees,
            time.perf_counter() - started,
            train_losses[-1],
            f", validation loss {validation_losses[-1]:.5f}" if validation_losses else "",
        )
        reporter.epoch_end(
            t,
            train_losses[-1],
            stop=not more,
            validation_loss=validation_losses[-1] if held_out.any() else None,
        )
        if not more:
            break
    history = validation_losses or train_losses
    return SecureBoostGuestModel(
        config.objective,
        outputs,
        start,
        config.learning_rate,
        config.max_depth,
        tuple(trees),
        train_losses,
        validation_losses,
        best_epoch(history),
        n_features=x.shape[1],
    )
