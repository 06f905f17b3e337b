"""Federated WOE and IV: the message keys of every role, and what each party learns.

FATE's ``HeteroFeatureBinning`` (its documentation and wiki: the label party encrypts
``y`` and ``1 - y``, each feature party sums them per bin and sends the sums back) over
SecureBoost's machinery: the labels are packed as SecureBoost packs a gradient and a
hessian (``g = y``, ``h = 1 - y``, :class:`~rengo.vfl.secureboost.GradientLayout`), a
feature party bins its columns exactly as for SecureBoost
(:func:`~rengo.vfl.secureboost.fit_bins`) and sums the ciphertexts per bin with the same
homomorphic segment sums (:func:`rengo.vfl.secureboost.histograms.node_histogram`, the
root node's histogram), several bins per ciphertext, re-randomised. WOE and IV follow
Siddiqi, "Credit Risk Scorecards" (2006), with FATE's smoothing
(:mod:`rengo.vfl.hetero_binning.woe`).

1. guest (label party): its rows' ``(y, 1 - y)`` packed in one ciphertext per row, under its
   own Paillier key; guest -> each host                                      [setup]
2. host: bins each column (quantile cut points, a missing-value bin), sums the ciphertexts
   per bin, packs several bins per ciphertext, re-randomises; host -> guest: the number of
   bins of each column and the packed sums                                    [hist]
   guest: decrypts, checks that no column has more than ``max_bin`` value bins and that
   every column's counts add up to its own totals, merges bins of fewer than
   ``min_bin_rows`` rows with their neighbours, computes WOE and IV of the host's columns
   and of its own (in the clear, on its own columns)
3. (feature selection only) guest -> each host: the indices of its columns kept [keep]

What each party learns. The host: ciphertexts only, and the aligned row count; no label
and no count. With selection, which of its own columns are kept, and that *is* a function
of the labels: a column that isolates one row would be kept exactly when that row is an
event. The guest therefore merges every bin of fewer than ``min_bin_rows`` rows with its
neighbours (:func:`~rengo.vfl.hetero_binning.woe.merge_small_bins`, by row counts only)
and refuses a column of more than ``max_bin`` value bins, so a kept bit depends on label
counts over groups of at least ``min_bin_rows`` rows, not on one row's label alone; a
host that crafts columns still learns one bit per column about such groups, and two
overlapping groups can give one row's label away (a group of ``min_bin_rows`` non-events
dropped, the same group plus that row kept only if the row is a non-event): selection
bounds what a host learns, it does not hide the labels from a host that probes. The guest: per host
column, the number of bins and each bin's event and non-event counts (so also each bin's
row count), in bin order; never a host value, cut point or column name. The coordinator
takes no part in the protocol; in a run's selection step
(:mod:`rengo.vfl.hetero_binning.selection_step`) it receives, for the run's record, each
column's IV and whether it was kept from the guest and each host's column names from that
host. Every ciphertext that leaves a party is a fresh encryption or re-randomised.

Trust: the guest is assumed to follow the protocol (semi-honest). A guest that encrypts
"labels" of its own choosing, 1 for one row and 0 for the rest, learns from the sums which
bin of every host column that row falls in (and, with crafted plaintexts, possibly several
rows per run); the host cannot tell.

Messages sit in the ``"iv"`` scope: ``iv/hist`` is a host's packed per-bin sums.
"""

from __future__ import annotations

from rengo.crypto.keys import PaillierPublicKey
from rengo.vfl.secureboost.encoding import GradientLayout

SCOPE = "iv"
SETUP = "setup"  # guest -> hosts: rows, public key, encrypted packed (y, 1 - y)
HIST = "hist"  # host -> guest: bins per column, packed encrypted per-bin sums
KEEP = "keep"  # (selection) guest -> host: indices of its columns kept


def label_layout(rows: int, public_key: PaillierPublicKey) -> GradientLayout:
    """How ``(y, 1 - y)`` of ``rows`` rows are packed: one output of integer slots wide
    enough for a sum over every row. Both parties derive it from the row count and the key,
    so it is not sent."""
    return GradientLayout.choose(1, 1, rows, 0, public_key)
