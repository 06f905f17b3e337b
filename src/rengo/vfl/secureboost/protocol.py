"""SecureBoost's protocol: the message keys of every role, and what each party learns.

Cheng, Fan, Jin, Liu, Chen, Papadopoulos, Yang, "SecureBoost: A Lossless Federated Learning
Framework", IEEE Intelligent Systems 2021 (arXiv:1901.08755), Algorithms 1 and 2, with
XGBoost's split rule (see :mod:`rengo.vfl.secureboost.splits`). Per tree:

1. guest (label party): gradients and hessians of the tree's rows, quantised and packed
   (g and h of every output in one ciphertext per row), encrypted; guest -> hosts   [gh]
2. per depth, for the nodes to split:
   guest -> hosts: which nodes, and every row's node                               [nodes]
   host: per node and column, the encrypted per-bin sums of the node's rows (of two
   siblings the smaller one is summed, the other is its parent minus it), the left-child
   sums of each candidate threshold in a secret order, several per ciphertext,
   re-randomised; host -> guest                                                    [hist]
   guest: decrypts, scores its own and every host's candidates by gain, picks the best
   per node; guest -> each host: its winning (opaque) candidate ids                [chosen]
   host: looks up its column and threshold (never sent) and keeps them; host -> guest:
   the node's rows that go left, an anonymous id of the column                     [partition]
   guest: checks the rows against the sums it decrypted for that candidate.
3. guest: leaf values, losses; guest -> hosts: another tree or not                 [next]
   (a resumable run) every role checkpoints the tree; guest -> coordinator: trees
   complete so far, whether training stopped                                       [request]

What each party learns. Hosts: ciphertexts only, every node's rows (SecureBoost's
instance space, as in the paper), the row choices every party derives from the seed, and
the slot width of the packing (for regression it reflects the size of the largest
residual; a class-weighted run always packs in the widest slots, 63 bits, since slots sized
by weighted gradients told the size of the largest weight: with ``"balanced"``, the
minority class's share to within a factor of two). Guest: per node, the gradient and
hessian sums of every host candidate (in a secret order, not knowing which column or
threshold), which host won, the rows its split sends left and an anonymous id of its
column; never a host's value or threshold.
Coordinator: how many trees were grown; when it holds the key pair, uniform residues only
(the guest masks every value it has decrypted with a one-time pad, see
:mod:`rengo.crypto.masking`). Every ciphertext that leaves a party is a fresh encryption
or re-randomised.

Messages sit in the ``"sbt"`` scope: ``sbt/tree=2/depth=1/hist`` is a host's histograms of
depth 1 of tree 2.
"""

from __future__ import annotations

from typing import Any

from rengo.core.errors import ProtocolError
from rengo.crypto.keys import PaillierPublicKey

SCOPE = "sbt"
PUBLIC_KEY = "public-key"  # coordinator -> every party (coordinator-held key only)
SETUP = "setup"  # guest -> hosts: rows, seed, public key
GH = "gh"  # (per tree) guest -> hosts: layout and encrypted packed (g, h)
NODES = "nodes"  # (per depth) guest -> hosts: nodes to split, every row's node
HIST = "hist"  # (per depth) host -> guest: encrypted candidate sums per node
CHOSEN = "chosen"  # (per depth) guest -> host: winning candidate ids per node
PARTITION = "partition"  # (per depth) host -> guest: rows going left, anonymous column id
NEXT = "next"  # (per tree) guest -> hosts: another tree?
REQUEST = "request"  # guest -> coordinator: masked values to decrypt, a tree done, the report
PLAIN = "plain"  # coordinator -> guest: the masked residues


def expect_public_key(value: Any, sender: str) -> PaillierPublicKey:
    """``value`` if it is a Paillier public key.

    Raises
    ------
    ProtocolError
        Naming the sender otherwise.
    """
    if not isinstance(value, PaillierPublicKey):
        raise ProtocolError(f"{sender} sent no Paillier public key")
    return value
