"""A feature party's encrypted histograms: segment sums, sibling by subtraction, candidates.

For each node to split, the feature party adds the label party's encrypted (g, h) of the
node's training rows bin by bin, for every column at once (homomorphic segment sums). Of
two sibling nodes only the one with fewer rows is summed; the other is its parent minus it
(histogram subtraction, as in LightGBM and FATE). Each candidate split's left-child sums
are cumulative products over the column's bins (times the missing bin when missing values
go left). Everything here is a ciphertext of the label party's key: the feature party
learns nothing from it, and re-randomises what it sends (see :mod:`rengo.vfl.secureboost.roles`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.segment_sums import encrypted_differences, encrypted_segment_sums


@dataclass(frozen=True)
class NodeHistogram:
    """One node's per-column bin counts (training rows; value bins then missing) and
    encrypted per-bin (g, h) chunks (bins x chunks ciphertexts) per column."""

    counts: tuple[np.ndarray, ...]
    sums: tuple[np.ndarray, ...]


def bin_counts(bins: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows per bin of each column (``sizes[j]`` bins, the last one for missing values)."""
    return tuple(
        np.bincount(bins[:, j], minlength=int(sizes[j])).astype(np.int64)
        for j in range(bins.shape[1])
    )


CELLS_AT_ONCE = 1 << 16
"""Row-column cells a histogram sums at once. The first round of a segment sum holds a
product (twice a ciphertext's size) and a new ciphertext for every other cell: summed over
all of a node's cells at once, a root node of 1M rows x 50 columns held 25M of each
(about 20 GB with a 1024-bit key) beside the rows' own ciphertexts."""


def node_histogram(
    ciphertexts: np.ndarray,
    bins: np.ndarray,
    sizes: np.ndarray,
    public_key: PaillierPublicKey,
) -> NodeHistogram:
    """The histogram of the rows whose ciphertexts (rows x chunks) and bins (rows x
    columns) are given: one multiplication per row and column, at most
    :data:`CELLS_AT_ONCE` cells at a time (a block of columns, or of one column's rows;
    sums mod n^2 do not depend on the order, so the histogram is the same)."""
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    rows, columns = bins.shape
    width = max(1, CELLS_AT_ONCE // max(rows, 1))
    blocks = [
        _block_sums(
            ciphertexts, bins[:, first : first + width], sizes[first : first + width], public_key
        )
        for first in range(0, columns, width)
    ]
    sums = np.concatenate(blocks) if blocks else np.empty((0, *ciphertexts.shape[1:]), object)
    return NodeHistogram(
        bin_counts(bins, sizes),
        tuple(sums[offsets[j] : offsets[j + 1]] for j in range(columns)),
    )


def _block_sums(
    ciphertexts: np.ndarray, bins: np.ndarray, sizes: np.ndarray, public_key: PaillierPublicKey
) -> np.ndarray:
    """The encrypted per-bin sums of a block of columns (their bins, columns in order),
    their rows summed :data:`CELLS_AT_ONCE` cells at a time and the parts multiplied."""
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    columns = bins.shape[1]
    step = max(1, CELLS_AT_ONCE // max(columns, 1))
    total: np.ndarray | None = None
    for start in range(0, max(len(bins), 1), step):
        part_bins, part = bins[start : start + step], ciphertexts[start : start + step]
        segments = (part_bins.astype(np.int64) + offsets[:-1][None, :]).T.ravel()
        repeated = np.tile(part, (columns, 1)) if len(part) else part
        sums = encrypted_segment_sums(repeated, segments, int(offsets[-1]), public_key)
        total = sums if total is None else total * sums % public_key.nsquare
    assert total is not None  # one part at least, empty or not
    return total


def sibling_histogram(
    parent: NodeHistogram, child: NodeHistogram, public_key: PaillierPublicKey
) -> NodeHistogram:
    """The other child of ``parent``: parent minus ``child``, bin by bin."""
    return NodeHistogram(
        tuple(p - c for p, c in zip(parent.counts, child.counts, strict=True)),
        tuple(
            encrypted_differences(p, c, public_key)
            for p, c in zip(parent.sums, child.sums, strict=True)
        ),
    )


def candidate_sums(
    sums: np.ndarray, candidates: list[tuple[int, bool]], public_key: PaillierPublicKey
) -> np.ndarray:
    """Encrypted left-child sums (candidates x chunks) of one column's candidates."""
    nsquare = public_key.nsquare
    out = np.empty((len(candidates), sums.shape[1]), dtype=object)
    if not candidates:
        return out
    last = max(b for b, _ in candidates)
    cumulative = [sums[0]]
    for b in range(1, last + 1):
        cumulative.append(cumulative[-1] * sums[b] % nsquare)
    missing = sums[-1]
    for k, (b, missing_left) in enumerate(candidates):
        out[k] = cumulative[b] * missing % nsquare if missing_left else cumulative[b]
    return out
