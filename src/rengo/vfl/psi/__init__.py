"""Private set intersection: align vertical parties' rows without revealing their IDs.

ECDH-PSI on Curve25519 (:mod:`rengo.vfl.psi.protocol`), ID normalisation rules
(:mod:`rengo.vfl.psi.ids`) and CSV alignment for ``rengo vfl align``
(:mod:`rengo.vfl.psi.csv_align`).
"""

from rengo.vfl.psi.csv_align import AlignStep, align_csv, read_id_table
from rengo.vfl.psi.ids import ID_KINDS, IdKind, NormalisedIds, normalise_ids
from rengo.vfl.psi.protocol import (
    DOUBLE_BLINDED,
    FOLLOWER_BLINDED,
    HELLO,
    LEADER_BLINDED,
    PROTOCOL_VERSION,
    RESULT,
    SCOPE,
    PSIAlignment,
    PSIResult,
    private_set_intersection,
    psi_follower,
    psi_leader,
    require_nonempty,
)

__all__ = [
    "DOUBLE_BLINDED",
    "FOLLOWER_BLINDED",
    "HELLO",
    "ID_KINDS",
    "LEADER_BLINDED",
    "PROTOCOL_VERSION",
    "RESULT",
    "SCOPE",
    "AlignStep",
    "IdKind",
    "NormalisedIds",
    "PSIAlignment",
    "PSIResult",
    "align_csv",
    "normalise_ids",
    "private_set_intersection",
    "psi_follower",
    "psi_leader",
    "read_id_table",
    "require_nonempty",
]
