"""Vertical federated learning: private set intersection and hetero logistic regression.

Role functions (``psi_leader``, ``hetero_lr_guest``, ...) talk only through a
:class:`rengo.transport.Channel`, so the same code runs in simulation
(:class:`HeteroLogisticRegression`, :func:`private_set_intersection`) and deployed.
"""

from rengo.vfl.hetero_contribution import (
    CoalitionScore,
    CoalitionValue,
    guest_alone_scores,
    train_guest_alone,
)
from rengo.vfl.hetero_credit_story import CreditConsortium, credit_consortium, run_credit_default
from rengo.vfl.hetero_lr import HeteroLogisticRegression, PartyTable, VerticalDataset
from rengo.vfl.hetero_lr_config import HeteroLRConfig
from rengo.vfl.hetero_lr_predict import (
    hetero_lr_predict_coordinator,
    hetero_lr_predict_guest,
    hetero_lr_predict_host,
)
from rengo.vfl.hetero_lr_roles import (
    CoordinatorReport,
    GuestModel,
    HostModel,
    hetero_lr_coordinator,
    hetero_lr_guest,
    hetero_lr_host,
)
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
    "CoalitionScore",
    "CoalitionValue",
    "CoordinatorReport",
    "CreditConsortium",
    "GuestModel",
    "HeteroLRConfig",
    "HeteroLogisticRegression",
    "HostModel",
    "PSIAlignment",
    "PSIResult",
    "PartyTable",
    "VerticalDataset",
    "align_csv",
    "credit_consortium",
    "guest_alone_scores",
    "hetero_lr_coordinator",
    "hetero_lr_guest",
    "hetero_lr_host",
    "hetero_lr_predict_coordinator",
    "hetero_lr_predict_guest",
    "hetero_lr_predict_host",
    "normalise_ids",
    "private_set_intersection",
    "psi_follower",
    "psi_leader",
    "require_nonempty",
    "run_credit_default",
    "train_guest_alone",
]
