"""The label party's SecureBoost training role and its side of every exchange.

See :mod:`rengo.vfl.secureboost.protocol` for the messages and what each party learns. The
label party encrypts each tree's packed gradients once (with obfuscators of the configured
scheme: DJN short exponents by default, or full ``r^n`` by CRT when it holds the key),
decrypts the feature parties' candidate sums in one batch per depth (by its own key, or
through the coordinator on masked values) and checks every feature party's rows against
the sums it sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.core.roles import COORDINATOR
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.fixed_point import from_residues
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.masking import mask_encrypted, residues_from_bytes
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.parallel import map_chunks
from rengo.crypto.randomness import random_source
from rengo.crypto.signed_slots import capacity
from rengo.data.class_weights import NO_CLASS_WEIGHT
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints
from rengo.vfl.progress import ProgressFn
from rengo.vfl.secureboost.boosting import (
    BoostProgress,
    CandidateSums,
    HostSplitReply,
    boost,
)
from rengo.vfl.secureboost.config import SecureBoostConfig
from rengo.vfl.secureboost.encoding import MAX_SUM_BITS, GradientLayout, gradient_bound
from rengo.vfl.secureboost.model import SecureBoostGuestModel
from rengo.vfl.secureboost.protocol import (
    CHOSEN,
    GH,
    HIST,
    NEXT,
    NODES,
    PARTITION,
    PLAIN,
    PUBLIC_KEY,
    REQUEST,
    SCOPE,
    SETUP,
    expect_public_key,
)
from rengo.vfl.secureboost.resume import GuestResume, save_guest, start_guest
from rengo.vfl.secureboost.rows import tree_row_count, unpack_rows, validation_mask

Keypair = tuple[PaillierPublicKey, PaillierPrivateKey]


class Decryptor:
    """Signed integers from ciphertexts of packed sums: by the label party's own key, or
    by the coordinator on values masked with one-time pads (it sees uniform residues)."""

    def __init__(
        self,
        public: PaillierPublicKey,
        private: PaillierPrivateKey | None,
        channel: Channel,
        coordinator: str,
        pool: ObfuscatorPool,
    ) -> None:
        self.public, self.private = public, private
        self.channel, self.coordinator, self.pool = channel, coordinator, pool
        self.requests = 0
        self.values = 0

    def __call__(self, ciphertexts: np.ndarray) -> np.ndarray:
        """The signed plaintexts of ``ciphertexts`` (object array of Python ints)."""
        self.values += len(ciphertexts)
        if self.private is not None:
            plain = map_chunks(self.private.raw_decrypt_array, ciphertexts)
            return from_residues(plain, self.public)
        masked, mask = mask_encrypted(
            EncryptedArray(self.public, ciphertexts, 0), random_source(None), self.pool
        )
        step = self.channel.scope(request=self.requests)
        self.requests += 1
        step.send(self.coordinator, REQUEST, {"masked": masked})
        residues = residues_from_bytes(
            step.recv(self.coordinator, PLAIN), self.public, len(ciphertexts)
        )
        return from_residues((residues - mask.residues) % self.public.n, self.public)

    def tree_complete(self, trees: int, stopped: bool) -> None:
        """Tell the coordinator that ``trees`` trees are complete and whether training
        stopped: it reports the tree as an epoch of the run (its record and the dashboard
        follow a deployed run tree by tree) and, in a resumable run, checkpoints."""
        step = self.channel.scope(request=self.requests)
        self.requests += 1
        step.send(self.coordinator, REQUEST, {"checkpoint": {"trees": trees, "stopped": stopped}})

    def finish(self, trees: int) -> None:
        """Tell the coordinator that training is over (it serves decryptions until then)."""
        step = self.channel.scope(request=self.requests)
        step.send(self.coordinator, REQUEST, {"report": {"trees": trees}})


class FederatedHosts:
    """The label party's :class:`~rengo.vfl.secureboost.boosting.HostLink` over a channel:
    encrypted gradients out, decrypted candidate sums and checked row sets in."""

    def __init__(
        self,
        channel: Channel,
        hosts: Sequence[str],
        config: SecureBoostConfig,
        public: PaillierPublicKey,
        decrypt: Decryptor,
        pool: ObfuscatorPool,
    ) -> None:
        self.channel, self.config = channel, config
        self.hosts: Sequence[str] = tuple(hosts)
        self.public, self.decrypt, self.pool = public, decrypt, pool
        self.layout: GradientLayout | None = None
        self.tree: Channel = channel
        self.step: Channel = channel
        self._background = ThreadPoolExecutor(1, thread_name_prefix="sbt-obfuscators")
        self._filling: Future[None] | None = None

    def start_tree(
        self, tree: int, active: np.ndarray, g: np.ndarray, h: np.ndarray, outputs: int
    ) -> None:
        """Pack, encrypt and send the tree's gradients and hessians to every host."""
        p_bits = self.config.precision_bits
        bound = gradient_bound(g, h, p_bits)
        layout = GradientLayout.choose(outputs, bound, len(active), p_bits, self.public)
        if layout.width > MAX_SUM_BITS:
            raise DataError(
                f"{self.channel.name}: gradients are too large for exact sums; scale the "
                "regression target down, lower the class weights or lower precision_bits"
            )
        if self.config.class_weight != NO_CLASS_WEIGHT:
            layout = _weighted_layout(outputs, p_bits, self.public)
        self.layout = layout
        if self._filling is not None:
            self._filling.result()
        encrypted = encrypt_array(
            layout.encode_rows(g, h), self.public, precision_bits=0, pool=self.pool
        )
        self.tree = self.channel.scope(tree=tree)
        for host in self.hosts:
            self.tree.send(host, GH, {"layout": layout.to_wire(), "gh": encrypted})
        self._filling = None
        if tree + 1 < self.config.n_trees:
            # the next tree's obfuscators do not depend on its gradients: make them while
            # the hosts sum this tree's histograms (wasted only if training stops early)
            self._filling = self._background.submit(self.pool.fill, len(active))

    def close(self) -> None:
        """Stop making obfuscators in the background."""
        if self._filling is not None:
            self._filling.cancel()
        self._background.shutdown(wait=True)

    def open_level(
        self, depth: int, nodes: list[list[int]], positions: np.ndarray
    ) -> list[list[CandidateSums | None]]:
        """Send the level's nodes; decrypt and decode every host's candidate sums."""
        self.step = self.tree.scope(depth=depth)
        for host in self.hosts:
            self.step.send(host, NODES, {"open": nodes, "position": positions})
        if not nodes:
            return [[] for _ in self.hosts]
        received = [
            _expect_histograms(self.step.recv(host, HIST), host, self.public, len(nodes))
            for host in self.hosts
        ]
        return self._decode(received)

    def _decode(self, received: list[list[tuple[int, Any]]]) -> list[list[CandidateSums | None]]:
        """Decrypt every host's sums of every node in one batch, then unpack them."""
        layout = self.layout
        assert layout is not None
        per = layout.items_per_ciphertext(self.public)
        parts = []
        for host, items in zip(self.hosts, received, strict=True):
            for count, ct in items:
                if count:
                    expected = -(-count * layout.chunks // per)
                    if ct.shape != (expected,):
                        raise ProtocolError(f"{host} sent {ct.shape} sums for {count} candidates")
                    parts.append(ct.ciphertexts)
        plain = self.decrypt(np.concatenate(parts)) if parts else np.empty(0, dtype=object)
        out: list[list[CandidateSums | None]] = []
        offset = 0
        for items in received:
            views: list[CandidateSums | None] = []
            for count, ct in items:
                if not count:
                    views.append(None)
                    continue
                chunk = plain[offset : offset + len(ct.ciphertexts)]
                offset += len(ct.ciphertexts)
                g_left, h_left = layout.decode_items(chunk, count, per)
                views.append(CandidateSums(_int64(g_left), _int64(h_left)))
            out.append(views)
        return out

    def choose(
        self, chosen: dict[str, dict[int, list[int]]], rows_at: dict[int, int]
    ) -> dict[str, dict[int, HostSplitReply]]:
        """Send each host its winning candidates; return its (checked) row sets."""
        for host in self.hosts:
            self.step.send(host, CHOSEN, {str(n): ids for n, ids in chosen[host].items()})
        replies: dict[str, dict[int, HostSplitReply]] = {}
        for host in self.hosts:
            value = self.step.recv(host, PARTITION)
            replies[host] = _expect_partitions(value, host, chosen[host], rows_at)
        return replies

    def end_tree(self, more: bool) -> None:
        """Tell every host whether another tree follows."""
        for host in self.hosts:
            self.tree.send(host, NEXT, {"more": more})


def _weighted_layout(
    outputs: int, precision_bits: int, public: PaillierPublicKey
) -> GradientLayout:
    """The layout of a class-weighted run: slots of the widest exact width
    (:data:`MAX_SUM_BITS`) whatever the gradients. Weighted gradients reach past one by the
    class weights, and slots sized by them told every feature party about ``log2`` of the
    largest weighted gradient each tree (with ``class_weight="balanced"``: the minority
    class's share, to within a factor of two); the caller has checked that the sums fit.
    """
    per = capacity(public, MAX_SUM_BITS) // 2
    return GradientLayout(outputs, MAX_SUM_BITS, max(1, min(per, outputs)), precision_bits)


def _int64(values: np.ndarray) -> np.ndarray:
    """Decoded sums as int64 (they fit: the layout's width is at most 63 bits)."""
    return np.array(values.tolist(), dtype=np.int64).reshape(values.shape)


def _expect_histograms(
    value: Any, host: str, public: PaillierPublicKey, nodes: int
) -> list[tuple[int, Any]]:
    if not isinstance(value, list) or len(value) != nodes:
        raise ProtocolError(f"{host} sent histograms for the wrong nodes")
    out = []
    for item in value:
        count = item.get("count") if isinstance(item, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ProtocolError(f"{host} sent a malformed histogram")
        ct = item.get("ct")
        if count:
            if not isinstance(ct, EncryptedArray) or ct.ndim != 1:
                raise ProtocolError(f"{host} sent histogram sums that are not ciphertexts")
            public.require_same(ct.public_key)
        out.append((count, ct))
    return out


def _expect_partitions(
    value: Any, host: str, chosen: dict[int, list[int]], rows_at: dict[int, int]
) -> dict[int, HostSplitReply]:
    expected = {str(n) for n in chosen}
    if not isinstance(value, dict) or set(value) != expected:
        raise ProtocolError(f"{host} answered for other nodes than it won")
    out = {}
    for node, ids in chosen.items():
        reply = value[str(node)]
        if (
            not isinstance(reply, dict)
            or set(reply) != {"left", "feature", "id"}
            or not isinstance(reply["id"], int)
            or reply["id"] not in ids
            or not isinstance(reply["feature"], int)
        ):
            raise ProtocolError(f"{host} sent a malformed split for node {node}")
        left = unpack_rows(reply["left"], rows_at[node], host)
        out[node] = HostSplitReply(left, int(reply["id"]), int(reply["feature"]))
    return out


def expected_gradient_encryptions(
    config: SecureBoostConfig, rows: int, seed: int, resumed: GuestResume | None
) -> int:
    """About how many obfuscators the label party's pool makes over a run (it sizes the
    pool's fixed-base table): one per packed ciphertext of every tree still to grow, i.e.
    each tree's training rows (the aligned rows less the held-out share, subsampled) times
    one ciphertext per row (a row's g and h share a ciphertext; exact for binary and
    regression, where all of a row's outputs fit one chunk, a lower bound for multiclass
    with more chunks). Not counted, where a coordinator holds the key: the masks of its
    decryptions, one per packed candidate sum the hosts send, which depends on their
    columns (unknown here) but not on the rows (on breast cancer, 569 rows and two hosts,
    they added half again as many; on larger tables the rows dominate)."""
    grown = 0 if resumed is None else len(resumed.boosting.trees)
    if resumed is not None and resumed.boosting.stopped:
        return 0
    training = rows - int(validation_mask(seed, rows, config.validation_fraction).sum())
    return max(0, config.n_trees - grown) * tree_row_count(training, config.subsample)


def secureboost_guest(
    channel: Channel,
    features: np.ndarray,
    labels: np.ndarray,
    hosts: Sequence[str],
    config: SecureBoostConfig,
    *,
    keys: Keypair | None = None,
    coordinator: str = COORDINATOR,
    seed: int | None = None,
    progress: ProgressFn | None = None,
    checkpoints: EpochCheckpoints | None = None,
    feature_names: Sequence[str] = (),
) -> SecureBoostGuestModel:
    """The label party: gradients encrypted and packed, histograms decrypted, best splits.

    Parameters
    ----------
    channel
        The label party's channel.
    features, labels
        Its aligned rows (row k of every party is the same customer) and their labels;
        empty cells (NaN) are allowed: each split learns where missing values go.
    hosts
        The feature parties, in the order every role uses.
    config
        The training settings (every party has them from the run's plan).
    keys
        Its Paillier key pair when it holds the keys (the default ``key_holder``).
    coordinator
        The coordinator's role name.
    seed
        Fixes the held-out and subsampled rows (else drawn from the OS CSPRNG).
    progress
        Told after each tree, with its training loss (see :mod:`rengo.vfl.progress`).
    checkpoints
        A resumable run's checkpoints: continue after their last tree, save every tree
        (see :mod:`rengo.vfl.secureboost.resume`).
    feature_names
        Its column names (empty: none), naming its own columns in the trees and in feature
        importance (they never leave it).

    Returns
    -------
    SecureBoostGuestModel
        Every tree (feature parties' splits by owner only), the starting score, the losses.

    Raises
    ------
    DataError
        For labels the objective cannot use or an entirely empty column (naming the party
        and the fix).
    ProtocolError
        If another role sends something malformed or inconsistent.
    """
    if not hosts:
        raise ConfigError("SecureBoost needs at least one feature party (host)")
    sbt = channel.scope(SCOPE)
    if config.key_holder == "label_party":
        if keys is None:
            raise ConfigError(f"{channel.name} holds the keys of this run but was given none")
        public, private = keys
    else:
        public, private = expect_public_key(sbt.recv(coordinator, PUBLIC_KEY), coordinator), None
    rows = len(np.asarray(features))
    resumed = start_guest(checkpoints, channel.name)
    run_seed = secrets.randbits(63) if seed is None else int(seed)
    if resumed is not None:
        run_seed = resumed.seed  # the held-out rows and subsamples of the trees so far
    for host in hosts:
        sbt.send(host, SETUP, {"rows": rows, "seed": run_seed, "public_key": public})
    # randomness of the configured scheme; a key holder asked for full r^n computes it by CRT
    pool = ObfuscatorPool.for_key_holder(
        public,
        private,
        config.obfuscator_scheme,
        processes=config.obfuscator_processes,
        expected_count=expected_gradient_encryptions(config, rows, run_seed, resumed),
    )
    decrypt = Decryptor(public, private, sbt, coordinator, pool)
    if resumed is not None:
        decrypt.values = resumed.decrypted

    def after_tree(state: BoostProgress) -> None:
        save_guest(checkpoints, state, run_seed, decrypt.values)
        decrypt.tree_complete(len(state.trees), state.stopped)

    link = FederatedHosts(sbt, hosts, config, public, decrypt, pool)
    try:
        model = boost(
            link,
            channel.name,
            features,
            labels,
            config,
            run_seed,
            progress=progress,
            resume=None if resumed is None else resumed.boosting,
            after_tree=after_tree,
            feature_names=feature_names,
        )
    finally:
        link.close()
        pool.close()
    decrypt.finish(model.n_trees)
    return replace(model, decrypted_values=decrypt.values)
