"""A feature party's SecureBoost training role: encrypted histograms, its own splits.

See :mod:`rengo.vfl.secureboost.protocol` for the messages and what each party learns. The
feature party bins its columns, sums the label party's encrypted (g, h) per node and bin
(the smaller sibling summed, the other one derived by subtraction), sends each candidate's
left-child sums in a secret order, packed several per ciphertext and re-randomised, and
keeps the column and threshold of every split it wins.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from rengo.core.errors import DataError, ProtocolError
from rengo.core.roles import COORDINATOR
from rengo.crypto.encrypted_array import EncryptedArray
from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.signed_slots import capacity, combine_ciphertexts
from rengo.data.class_weights import NO_CLASS_WEIGHT
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints, require_same_seed
from rengo.vfl.secureboost.binning import FeatureBins, fit_bins
from rengo.vfl.secureboost.config import SecureBoostConfig
from rengo.vfl.secureboost.encoding import MAX_SUM_BITS, GradientLayout
from rengo.vfl.secureboost.histograms import (
    NodeHistogram,
    candidate_sums,
    node_histogram,
    sibling_histogram,
)
from rengo.vfl.secureboost.model import HostSplit, SecureBoostHostModel
from rengo.vfl.secureboost.protocol import (
    CHOSEN,
    GH,
    HIST,
    NEXT,
    NODES,
    PARTITION,
    PUBLIC_KEY,
    SCOPE,
    SETUP,
    expect_public_key,
)
from rengo.vfl.secureboost.resume import save_host, start_host
from rengo.vfl.secureboost.rows import pack_rows, tree_row_count, tree_rows, validation_mask
from rengo.vfl.secureboost.splits import Candidate, column_candidates


def secureboost_host(
    channel: Channel,
    features: np.ndarray,
    guest: str,
    config: SecureBoostConfig,
    *,
    coordinator: str = COORDINATOR,
    checkpoints: EpochCheckpoints | None = None,
) -> SecureBoostHostModel:
    """A feature party: bins its columns, sums encrypted gradients, keeps its splits.

    Parameters
    ----------
    channel
        The host's channel.
    features
        Its aligned rows (row k is the label party's row k); empty cells (NaN) allowed.
    guest
        The label party.
    config
        The training settings (from the run's plan).
    coordinator
        The coordinator's role name.
    checkpoints
        A resumable run's checkpoints: continue after their last tree with the split lookup
        table and column ids saved there, save them after every tree (see
        :mod:`rengo.vfl.secureboost.resume`).

    Returns
    -------
    SecureBoostHostModel
        Its splits (column, threshold, direction of missing values), which never leave it.

    Raises
    ------
    DataError
        If its row count differs from the label party's, or a column is entirely empty.
    ProtocolError
        If another role sends something malformed.
    """
    name = channel.name
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{name}: features must be a 2-D table, got shape {x.shape}")
    sbt = channel.scope(SCOPE)
    setup = sbt.recv(guest, SETUP)
    if not isinstance(setup, dict) or set(setup) != {"rows", "seed", "public_key"}:
        raise ProtocolError(f"{guest} sent a malformed set-up")
    if config.key_holder == "coordinator":
        public = expect_public_key(sbt.recv(coordinator, PUBLIC_KEY), coordinator)
    else:
        public = expect_public_key(setup["public_key"], guest)
    if setup["rows"] != len(x):
        raise DataError(
            f"{name} holds {len(x)} aligned rows but the label party {guest} holds "
            f"{setup['rows']}: the parties' rows must be the same customers in the same order; "
            "align them by private set intersection (use_psi=True, the default) or give "
            "every party the same IDs"
        )
    run_seed = int(setup["seed"])
    resumed = start_host(checkpoints, x.shape[1], name)
    require_same_seed(None if resumed is None else resumed.seed, run_seed, name, guest)
    training = ~validation_mask(run_seed, len(x), config.validation_fraction)
    bins = fit_bins(x[training], config.max_bin, party=name)
    binned = bins.transform(x)
    sizes = np.array([bins.value_bins(j) + 1 for j in range(bins.n_features)])
    feature_ids = tuple(int(i) for i in _secret_permutation(bins.n_features))
    splits: list[HostSplit] = []
    t, stopped = 0, False
    if resumed is not None:
        feature_ids, splits = resumed.feature_ids, list(resumed.splits)
        t, stopped = resumed.trees, resumed.stopped
    trees_left = 0 if stopped else max(0, config.n_trees - t)
    tree_size = tree_row_count(int(training.sum()), config.subsample)
    pool = ObfuscatorPool.for_encryptor(
        public,
        config.obfuscator_scheme,
        processes=config.obfuscator_processes,
        expected_count=trees_left * expected_rerandomisations(config, bins, tree_size, public),
    )
    # While the label party encrypts a tree's gradients this party waits: make the
    # obfuscators for re-randomising that tree's histograms then (as many as the last tree
    # used; a rough guess for the first).
    expected = min(4096, bins.n_features * config.max_bin * (2**config.max_depth - 1) // 8)
    with pool, ThreadPoolExecutor(1, thread_name_prefix="sbt-host-obfuscators") as background:
        while not stopped and t < config.n_trees:
            filling = background.submit(pool.fill, max(0, expected - len(pool)))
            tree = sbt.scope(tree=t)
            active = tree_rows(run_seed, t, training, config.subsample)
            message = tree.recv(guest, GH)
            if not isinstance(message, dict) or set(message) != {"layout", "gh"}:
                raise ProtocolError(f"{guest} sent malformed gradients")
            layout = GradientLayout.from_wire(message["layout"], public)
            encrypted = message["gh"]
            if not isinstance(encrypted, EncryptedArray) or encrypted.shape != (
                len(active),
                layout.chunks,
            ):
                raise ProtocolError(f"{guest} sent gradients of the wrong shape")
            public.require_same(encrypted.public_key)
            filling.result()
            expected = _host_tree(
                tree, t, guest, config, layout, bins, binned, sizes, active,
                encrypted.ciphertexts, feature_ids, pool, splits,
            )  # fmt: skip
            t += 1
            go_on = tree.recv(guest, NEXT)
            if not isinstance(go_on, dict) or not isinstance(go_on.get("more"), bool):
                raise ProtocolError(f"{guest} sent a malformed 'next'")
            stopped = not go_on["more"] or t >= config.n_trees
            save_host(checkpoints, t, splits, feature_ids, seed=run_seed, stopped=stopped)
    return SecureBoostHostModel(tuple(splits), feature_ids, t)


def expected_rerandomisations(
    config: SecureBoostConfig, bins: FeatureBins, rows: int, public: PaillierPublicKey
) -> int:
    """At most how many ciphertexts a feature party re-randomises for one tree of ``rows``
    rows with one output (binary and regression; a multiclass tree sends up to about one
    ciphertext per chunk of its classes for each of these, and the pool makes the rest as
    it goes). Times the trees left, it sizes the pool's fixed-base table: every node of a
    full tree (``2**max_depth - 1``) sends every candidate split, at most two per value bin
    of each column (missing values left and right) less one (past the last bin only the
    missing values go right), packed as many per
    ciphertext as the layout for that many rows allows: slots sized by the rows, or the
    widest slots (:data:`~rengo.vfl.secureboost.encoding.MAX_SUM_BITS`) that a
    class-weighted run packs in whatever its rows and weights. Real trees send fewer (empty
    bins, small or pure nodes, early leaves)."""
    candidates = sum(max(0, 2 * bins.value_bins(j) - 1) for j in range(bins.n_features))
    if config.class_weight != NO_CLASS_WEIGHT:
        per = max(1, capacity(public, MAX_SUM_BITS) // 2)
        return ((1 << config.max_depth) - 1) * -(-candidates // per)
    try:
        layout = GradientLayout.choose(
            1, 1 << config.precision_bits, rows, config.precision_bits, public
        )
        per = layout.items_per_ciphertext(public)
    except DataError:  # the label party refuses such a key with a clear error
        per = 1
    return ((1 << config.max_depth) - 1) * -(-candidates // per)


def _secret_permutation(size: int) -> list[int]:
    order = list(range(size))
    secrets.SystemRandom().shuffle(order)
    return order


def _host_tree(
    tree: Channel,
    t: int,
    guest: str,
    config: SecureBoostConfig,
    layout: GradientLayout,
    bins: FeatureBins,
    binned: np.ndarray,
    sizes: np.ndarray,
    active: np.ndarray,
    ciphertexts: np.ndarray,
    feature_ids: tuple[int, ...],
    pool: ObfuscatorPool,
    splits: list[HostSplit],
) -> int:
    """One tree, level by level, as a feature party; returns the ciphertexts it sent."""
    public = pool.public_key
    rows = len(binned)
    slot_of = np.full(rows, -1, dtype=np.int64)
    slot_of[active] = np.arange(len(active))
    cache: dict[int, NodeHistogram] = {}
    sent = 0
    for depth in range(config.max_depth):
        step = tree.scope(depth=depth)
        message = step.recv(guest, NODES)
        open_nodes, positions = _expect_nodes(message, guest, rows)
        if not open_nodes:
            break
        histograms: dict[int, NodeHistogram] = {}

        for node, parent, sibling in open_nodes:
            if node in histograms:
                continue
            if parent in cache and sibling >= 0:
                mine = int(((positions == node) & (slot_of >= 0)).sum())
                theirs = int(((positions == sibling) & (slot_of >= 0)).sum())
                small, large = (node, sibling) if mine <= theirs else (sibling, node)
                histograms[small] = _direct_histogram(
                    small, positions, slot_of, ciphertexts, binned, sizes, public
                )
                histograms[large] = sibling_histogram(cache[parent], histograms[small], public)
            else:
                histograms[node] = _direct_histogram(
                    node, positions, slot_of, ciphertexts, binned, sizes, public
                )
        reply: list[dict[str, Any]] = []
        lookup: dict[int, list[Candidate]] = {}
        for node, _, _ in open_nodes:
            item, lookup[node] = _candidate_message(
                histograms[node], layout, config.min_samples_leaf, pool
            )
            reply.append(item)
            sent += item["ct"].size if "ct" in item else 0
        step.send(guest, HIST, reply)
        chosen = step.recv(guest, CHOSEN)
        if not isinstance(chosen, dict):
            raise ProtocolError(f"{guest} sent a malformed choice of splits")
        answer: dict[str, dict[str, Any]] = {}
        for key, tied in chosen.items():
            node = int(key) if key.lstrip("-").isdigit() else -1
            if node not in lookup or not isinstance(tied, list) or not tied:
                raise ProtocolError(f"{guest} chose a split of unknown node {key!r}")
            order = lookup[node]
            if not all(isinstance(i, int) and 0 <= i < len(order) for i in tied):
                raise ProtocolError(f"{guest} chose unknown candidates of node {node}")
            opaque = min(tied, key=lambda i: _canonical(order[i]))
            candidate = order[opaque]
            at_node = np.flatnonzero(positions == node)
            left = bins.goes_left(
                binned[at_node], candidate.feature, candidate.bin, candidate.missing_left
            )
            answer[key] = {
                "left": pack_rows(left),
                "feature": feature_ids[candidate.feature],
                "id": opaque,
            }
            splits.append(
                HostSplit(
                    t,
                    node,
                    candidate.feature,
                    bins.threshold(candidate.feature, candidate.bin),
                    candidate.missing_left,
                )
            )
        step.send(guest, PARTITION, answer)
        cache = {node: histograms[node] for node, _, _ in open_nodes}
    return sent


def _direct_histogram(
    node: int,
    positions: np.ndarray,
    slot_of: np.ndarray,
    ciphertexts: np.ndarray,
    binned: np.ndarray,
    sizes: np.ndarray,
    public: PaillierPublicKey,
) -> NodeHistogram:
    """A node's histogram summed from its training rows' ciphertexts."""
    members = np.flatnonzero((positions == node) & (slot_of >= 0))
    return node_histogram(ciphertexts[slot_of[members]], binned[members], sizes, public)


def _canonical(candidate: Candidate) -> tuple[int, int, bool]:
    """A candidate's place in the canonical order (column, threshold, missing right first)."""
    return (candidate.feature, candidate.bin, candidate.missing_left)


def _expect_nodes(
    message: Any, guest: str, rows: int
) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    if not isinstance(message, dict) or set(message) != {"open", "position"}:
        raise ProtocolError(f"{guest} sent a malformed node list")
    positions = message["position"]
    if (
        not isinstance(positions, np.ndarray)
        or positions.shape != (rows,)
        or positions.dtype.kind not in "iu"
    ):
        raise ProtocolError(f"{guest} sent row positions of the wrong shape")
    described = message["open"]
    if not isinstance(described, list) or not all(
        isinstance(d, list) and len(d) == 3 and all(isinstance(v, int) for v in d)
        for d in described
    ):
        raise ProtocolError(f"{guest} sent a malformed node list")
    return [(int(n), int(p), int(s)) for n, p, s in described], positions


def _candidate_message(
    histogram: NodeHistogram,
    layout: GradientLayout,
    min_samples_leaf: int,
    pool: ObfuscatorPool,
) -> tuple[dict[str, Any], list[Candidate]]:
    """A node's candidates in a secret order, several per ciphertext, re-randomised."""
    public = pool.public_key
    candidates: list[Candidate] = []
    parts = []
    for j, (counts, sums) in enumerate(zip(histogram.counts, histogram.sums, strict=True)):
        column = column_candidates(counts, min_samples_leaf)
        candidates.extend(Candidate(j, b, left) for b, left in column)
        parts.append(candidate_sums(sums, column, public))
    if not candidates:
        return {"count": 0}, []
    order = _secret_permutation(len(candidates))
    items = np.concatenate(parts)[order]
    shuffled = [candidates[i] for i in order]
    per = layout.items_per_ciphertext(public)
    combined = combine_ciphertexts(items.ravel(), per, layout.chunk_bits, public)
    sent = EncryptedArray(public, combined, 0).rerandomize(pool)
    return {"count": len(shuffled), "ct": sent}, shuffled
