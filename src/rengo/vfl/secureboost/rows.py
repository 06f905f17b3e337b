"""Which aligned rows a SecureBoost run trains each tree on, and row sets on the wire.

Every party derives the same row choices from the seed the label party sends at set-up,
so none of them is ever sent: the held-out validation rows (``validation_fraction`` of the
aligned rows) and each tree's subsample of the training rows. Row sets that do travel
(the rows a split sends left) go as packed bits over the node's rows in ascending order.
"""

from __future__ import annotations

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.vfl.early_stopping import validation_mask

__all__ = ["pack_rows", "tree_row_count", "tree_rows", "unpack_rows", "validation_mask"]


def tree_row_count(training_rows: int, subsample: float) -> int:
    """How many rows each tree is grown on: all ``training_rows``, or a ``subsample`` share
    of them (at least one)."""
    if subsample >= 1.0:
        return training_rows
    return max(1, round(subsample * training_rows))


def tree_rows(seed: int, tree: int, training: np.ndarray, subsample: float) -> np.ndarray:
    """The training rows tree ``tree`` is grown on (ascending), drawn without replacement."""
    rows = np.flatnonzero(training)
    if subsample >= 1.0:
        return rows
    size = tree_row_count(len(rows), subsample)
    chosen = np.random.default_rng([seed, 0x5B02, tree]).choice(len(rows), size, replace=False)
    return np.asarray(rows[np.sort(chosen)])


def pack_rows(mask: np.ndarray) -> np.ndarray:
    """A boolean row set as packed bits (uint8)."""
    return np.packbits(np.asarray(mask, dtype=bool))


def unpack_rows(bits: object, count: int, sender: str) -> np.ndarray:
    """The boolean row set of ``count`` rows that ``sender`` packed.

    Raises
    ------
    ProtocolError
        If the bits are not a uint8 array of the right length.
    """
    if not isinstance(bits, np.ndarray) or bits.dtype != np.uint8 or bits.ndim != 1:
        raise ProtocolError(f"{sender} sent a row set that is not packed bits")
    if len(bits) != -(-count // 8):
        raise ProtocolError(f"{sender} sent a row set of {len(bits) * 8} bits for {count} rows")
    return np.unpackbits(bits, count=count).astype(bool)
