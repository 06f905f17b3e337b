"""The label party's side of federated WOE and IV: encrypted labels out, bin counts in.

See :mod:`rengo.vfl.hetero_binning.protocol` for the messages and what each party
learns. The label party packs and encrypts ``(y, 1 - y)`` once for every feature party,
decrypts each one's per-bin sums, checks that every column's counts add up to its own
totals, and computes WOE and IV of every party's columns (its own in the clear).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.core.roles import COORDINATOR
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.transport.channel import Channel
from rengo.vfl.hetero_binning.host import require_max_bin
from rengo.vfl.hetero_binning.protocol import HIST, KEEP, SCOPE, SETUP, label_layout
from rengo.vfl.hetero_binning.woe import (
    DEFAULT_ADJUSTMENT_FACTOR,
    FeatureIV,
    default_min_bin_rows,
    require_adjustment_factor,
    woe_and_iv,
)
from rengo.vfl.secureboost.binning import fit_bins
from rengo.vfl.secureboost.encoding import GradientLayout
from rengo.vfl.secureboost.guest import Decryptor
from rengo.vfl.secureboost.histograms import bin_counts

Keypair = tuple[PaillierPublicKey, PaillierPrivateKey]


def binary_labels(labels: Any, rows: int, party: str) -> np.ndarray:
    """``labels`` as int64 zeros and ones (1 = event).

    Raises
    ------
    DataError
        Naming the party if they are not one 0/1 value per row.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != rows:
        raise DataError(f"{party}: labels must be one value per row ({rows}), got {y.shape}")
    as_float = y.astype(np.float64) if y.dtype.kind in "biuf" else None
    if as_float is None or not np.isin(as_float, (0.0, 1.0)).all():
        found = sorted({str(v) for v in np.unique(y)[:5].tolist()})
        raise DataError(
            f"{party}: information value needs binary labels, 1 for the event (e.g. "
            f"defaulted) and 0 otherwise; found {', '.join(found)}"
        )
    return as_float.astype(np.int64)


def information_value_guest(
    channel: Channel,
    features: np.ndarray,
    labels: Any,
    hosts: Sequence[str],
    keys: Keypair,
    *,
    max_bin: int = 10,
    adjustment_factor: float = DEFAULT_ADJUSTMENT_FACTOR,
    feature_names: Sequence[str] = (),
    min_bin_rows: int | None = None,
) -> list[FeatureIV]:
    """The label party: WOE and IV of its own and every feature party's columns.

    Parameters
    ----------
    channel
        The label party's channel.
    features, labels
        Its aligned rows and their binary labels (1 = event); labels never leave it.
    hosts
        The feature parties.
    keys
        Its Paillier key pair.
    max_bin
        Most value bins per column (the feature parties must use the same).
    adjustment_factor
        Added to both counts of a bin of one class only (FATE's smoothing).
    feature_names
        Its column names (empty: ``x0``, ``x1``, ...).
    min_bin_rows
        Bins of fewer rows are merged with their neighbours before WOE and IV
        (:func:`~rengo.vfl.hetero_binning.woe.merge_small_bins`; ``None``:
        ``max(5, 0.5% of rows)``). A feature party's column that isolates a few rows (one
        row per value, say) then gets no IV from them, so which columns are kept does not
        reveal those rows' labels.

    Returns
    -------
    list of FeatureIV
        Its own columns (with their cut points), then each feature party's in the order of
        ``hosts`` (named ``x0``, ``x1``, ... by index, without cut points: it never sees
        them).

    Raises
    ------
    DataError
        If the labels are not binary or hold one class only, or a column is entirely empty.
    ConfigError
        If ``max_bin``, ``adjustment_factor`` or ``min_bin_rows`` is out of range, or there
        is no host.
    ProtocolError
        If a feature party sends sums that are malformed or do not add up to the totals.
    """
    if not hosts:
        raise ConfigError("information value across parties needs at least one feature party")
    name = channel.name
    max_bin = require_max_bin(max_bin)
    adjustment_factor = require_adjustment_factor(adjustment_factor)
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{name}: features must be a 2-D table, got shape {x.shape}")
    y = binary_labels(labels, len(x), name)
    min_rows = effective_min_bin_rows(min_bin_rows, len(x))
    totals = (int(y.sum()), int(len(y) - y.sum()))
    if 0 in totals:
        raise DataError(
            f"{name}: information value needs both classes, but every label is "
            f"{int(y[0]) if len(y) else 'missing'} ({len(y)} rows)"
        )
    public, private = keys
    layout = label_layout(len(x), public)
    iv = channel.scope(SCOPE)
    pool = ObfuscatorPool.for_key_holder(public, private, expected_count=len(x))
    try:
        plain = layout.encode_rows(y[:, None], (1 - y)[:, None])
        encrypted = encrypt_array(plain, public, precision_bits=0, pool=pool)
        for host in hosts:
            iv.send(host, SETUP, {"rows": len(x), "public_key": public, "y": encrypted})
        results = _own_columns(name, x, y, max_bin, adjustment_factor, feature_names, min_rows)
        decrypt = Decryptor(public, private, iv, COORDINATOR, pool)
        for host in hosts:
            reply = iv.recv(host, HIST)
            counts = _host_counts(reply, host, layout, public, decrypt, totals, max_bin)
            for j, (events, non_events) in enumerate(counts):
                woe, value = woe_and_iv(events, non_events, adjustment_factor, min_rows)
                results.append(_feature(host, j, f"x{j}", events, non_events, woe, value, None))
    finally:
        pool.close()
    return results


def send_selection(channel: Channel, hosts: Sequence[str], kept: Sequence[FeatureIV]) -> None:
    """Tell each feature party which of its columns are kept (step 3).

    Parameters
    ----------
    channel
        The label party's channel.
    hosts
        The feature parties.
    kept
        The kept columns of every party (see :func:`~rengo.vfl.hetero_binning.select_by_iv`).
    """
    iv = channel.scope(SCOPE)
    for host in hosts:
        iv.send(host, KEEP, sorted(f.column for f in kept if f.party == host))


def _own_columns(
    party: str,
    x: np.ndarray,
    y: np.ndarray,
    max_bin: int,
    adjustment_factor: float,
    names: Sequence[str],
    min_rows: int,
) -> list[FeatureIV]:
    """WOE and IV of the label party's own columns, in the clear."""
    bins = fit_bins(x, max_bin, party=party, names=names or None)
    binned = bins.transform(x)
    sizes = np.array([bins.value_bins(j) + 1 for j in range(bins.n_features)], dtype=np.int64)
    totals = bin_counts(binned, sizes)
    events = bin_counts(binned[y == 1], sizes)
    out = []
    for j in range(bins.n_features):
        non_events = totals[j] - events[j]
        woe, value = woe_and_iv(events[j], non_events, adjustment_factor, min_rows)
        label = str(names[j]) if j < len(names) else f"x{j}"
        edges = tuple(float(e) for e in bins.edges[j])
        out.append(_feature(party, j, label, events[j], non_events, woe, value, edges))
    return out


def effective_min_bin_rows(min_bin_rows: int | None, rows: int) -> int:
    """The least rows of a bin in effect: ``min_bin_rows``, or the default for ``rows`` rows.

    Raises
    ------
    ConfigError
        If ``min_bin_rows`` is given and not a positive integer.
    """
    if min_bin_rows is None:
        return default_min_bin_rows(rows)
    if (
        isinstance(min_bin_rows, bool)
        or not isinstance(min_bin_rows, (int, np.integer))
        or min_bin_rows < 1
    ):
        raise ConfigError(f"min_bin_rows must be a positive integer, got {min_bin_rows!r}")
    return int(min_bin_rows)


def _feature(
    party: str,
    column: int,
    name: str,
    events: np.ndarray,
    non_events: np.ndarray,
    woe: np.ndarray,
    value: float,
    edges: tuple[float, ...] | None,
) -> FeatureIV:
    return FeatureIV(
        party,
        column,
        name,
        tuple(int(v) for v in events),
        tuple(int(v) for v in non_events),
        tuple(float(w) for w in woe),
        value,
        edges,
    )


def _host_counts(
    value: Any,
    host: str,
    layout: GradientLayout,
    public: PaillierPublicKey,
    decrypt: Decryptor,
    totals: tuple[int, int],
    max_bin: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A feature party's per-bin (events, non-events) of each column, decrypted and
    checked: at most ``max_bin`` value bins and a missing-value bin per column (more, e.g.
    one row per bin, would give a column of noise a large IV), non-negative, and adding up
    to the label party's totals in every column."""
    if not isinstance(value, dict) or "bins" not in value or set(value) - {"bins", "ct"}:
        raise ProtocolError(f"{host} sent malformed information-value sums")
    sizes = value["bins"]
    if not isinstance(sizes, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 2 for s in sizes
    ):
        raise ProtocolError(f"{host} sent malformed bin counts")
    for j, size in enumerate(sizes):
        if size > max_bin + 1:
            raise ProtocolError(
                f"{host}'s column {j} has {size} bins, more than max_bin = {max_bin} value "
                "bins and a missing-value bin: every party must bin with the same max_bin"
            )
    items = sum(sizes)
    if not items:
        return []
    per = layout.items_per_ciphertext(public)
    ct = value.get("ct")
    if not isinstance(ct, EncryptedArray) or ct.shape != (-(-items // per),):
        raise ProtocolError(f"{host} sent {items} bins' sums in the wrong number of ciphertexts")
    public.require_same(ct.public_key)
    events_all, non_events_all = layout.decode_items(decrypt(ct.ciphertexts), items, per)
    events_flat = np.array(events_all[:, 0].tolist(), dtype=np.int64)
    non_events_flat = np.array(non_events_all[:, 0].tolist(), dtype=np.int64)
    out = []
    start = 0
    for j, size in enumerate(sizes):
        events = events_flat[start : start + size]
        non_events = non_events_flat[start : start + size]
        start += size
        if (
            (events < 0).any()
            or (non_events < 0).any()
            or ((int(events.sum()), int(non_events.sum())) != totals)
        ):
            raise ProtocolError(
                f"{host}'s bin sums of its column {j} do not add up to the aligned rows' "
                f"{totals[0]} events and {totals[1]} non-events"
            )
        out.append((events, non_events))
    return out
