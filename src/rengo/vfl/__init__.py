"""Vertical federated learning: private set intersection and hetero logistic regression.

Role functions (``psi_leader``, ``psi_follower``, ...) talk only through a
:class:`rengo.transport.Channel`, so the same code runs in simulation and deployed.
"""

from rengo.vfl.psi import (
    PSIAlignment,
    PSIResult,
    private_set_intersection,
    psi_follower,
    psi_leader,
    require_nonempty,
)
from rengo.vfl.psi_csv import align_csv
from rengo.vfl.psi_ids import normalise_ids

__all__ = [
    "PSIAlignment",
    "PSIResult",
    "align_csv",
    "normalise_ids",
    "private_set_intersection",
    "psi_follower",
    "psi_leader",
    "require_nonempty",
]
