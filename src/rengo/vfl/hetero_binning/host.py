"""A feature party's side of federated WOE and IV: encrypted label sums per bin.

See :mod:`rengo.vfl.hetero_binning.protocol` for the messages and what each party
learns. The feature party bins its columns as SecureBoost does, sums the label party's
encrypted ``(y, 1 - y)`` per bin (SecureBoost's histogram of the root node), packs several
bins per ciphertext and re-randomises them before they leave.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.crypto.encrypted_array import EncryptedArray
from rengo.crypto.obfuscators import (
    DEFAULT_LOCAL_OBFUSCATOR_SCHEME,
    LocalObfuscatorScheme,
    ObfuscatorPool,
)
from rengo.crypto.signed_slots import combine_ciphertexts
from rengo.transport.channel import Channel
from rengo.vfl.hetero_binning.protocol import HIST, KEEP, SCOPE, SETUP, label_layout
from rengo.vfl.secureboost.binning import FeatureBins, fit_bins
from rengo.vfl.secureboost.histograms import node_histogram
from rengo.vfl.secureboost.protocol import expect_public_key


def require_max_bin(max_bin: int) -> int:
    """``max_bin`` if it is an integer of at least 2.

    Raises
    ------
    ConfigError
        Otherwise (one bin holds every row: no column could have any IV).
    """
    if isinstance(max_bin, bool) or not isinstance(max_bin, (int, np.integer)) or max_bin < 2:
        raise ConfigError(f"max_bin must be an integer of at least 2, got {max_bin!r}")
    return int(max_bin)


def information_value_host(
    channel: Channel,
    features: np.ndarray,
    guest: str,
    *,
    max_bin: int = 10,
    feature_names: tuple[str, ...] = (),
    obfuscator_scheme: LocalObfuscatorScheme = DEFAULT_LOCAL_OBFUSCATOR_SCHEME,
) -> FeatureBins:
    """A feature party: bins its columns, sends the encrypted label sums of every bin.

    Parameters
    ----------
    channel
        The feature party's channel.
    features
        Its aligned rows (row k is the label party's row k); empty cells (NaN) go to a
        missing-value bin.
    guest
        The label party.
    max_bin
        Most value bins per column (the label party must use the same).
    feature_names
        Its column names, for its own error messages (this protocol sends none; with
        selection by IV in a run, the party sends them to the coordinator for the run's
        record: :mod:`~rengo.vfl.hetero_binning.selection_step`).
    obfuscator_scheme
        The randomness that re-randomises what it sends.

    Returns
    -------
    FeatureBins
        Its columns' cut points, which never leave it.

    Raises
    ------
    DataError
        If its row count differs from the label party's, or a column is entirely empty or
        holds infinities (naming the column).
    ProtocolError
        If the label party sends something malformed.
    """
    name = channel.name
    max_bin = require_max_bin(max_bin)
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{name}: features must be a 2-D table, got shape {x.shape}")
    iv = channel.scope(SCOPE)
    setup = iv.recv(guest, SETUP)
    if not isinstance(setup, dict) or set(setup) != {"rows", "public_key", "y"}:
        raise ProtocolError(f"{guest} sent a malformed set-up")
    public = expect_public_key(setup["public_key"], guest)
    if setup["rows"] != len(x):
        raise DataError(
            f"{name} holds {len(x)} aligned rows but the label party {guest} holds "
            f"{setup['rows']}: the parties' rows must be the same customers in the same order"
        )
    encrypted = setup["y"]
    if not isinstance(encrypted, EncryptedArray) or encrypted.shape != (len(x), 1):
        raise ProtocolError(f"{guest} sent encrypted labels of the wrong shape")
    public.require_same(encrypted.public_key)
    layout = label_layout(len(x), public)
    bins = fit_bins(x, max_bin, party=name, names=feature_names or None)
    sizes = np.array([bins.value_bins(j) + 1 for j in range(bins.n_features)], dtype=np.int64)
    histogram = node_histogram(encrypted.ciphertexts, bins.transform(x), sizes, public)
    items = np.concatenate(histogram.sums).ravel() if histogram.sums else np.empty(0, dtype=object)
    per = layout.items_per_ciphertext(public)
    reply: dict[str, Any] = {"bins": [int(s) for s in sizes]}
    if len(items):
        with ObfuscatorPool.for_encryptor(
            public, obfuscator_scheme, expected_count=-(-len(items) // per)
        ) as pool:
            packed = combine_ciphertexts(items, per, layout.chunk_bits, public)
            reply["ct"] = EncryptedArray(public, packed, 0).rerandomize(pool)
    iv.send(guest, HIST, reply)
    return bins


def receive_selection(channel: Channel, guest: str, columns: int) -> tuple[int, ...]:
    """A feature party's columns kept by the label party's selection by IV (step 3).

    Parameters
    ----------
    channel
        The feature party's channel.
    guest
        The label party.
    columns
        How many columns the feature party holds.

    Returns
    -------
    tuple of int
        The kept columns' indices, ascending (possibly none).

    Raises
    ------
    ProtocolError
        If the label party sends anything but distinct indices of its columns.
    """
    kept = channel.scope(SCOPE).recv(guest, KEEP)
    if (
        not isinstance(kept, list)
        or not all(isinstance(j, int) and not isinstance(j, bool) for j in kept)
        or not all(0 <= j < columns for j in kept)
        or len(set(kept)) != len(kept)
    ):
        raise ProtocolError(f"{guest} sent a malformed list of kept columns")
    return tuple(sorted(kept))
