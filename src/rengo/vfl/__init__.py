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
    "GuestModel",
    "HeteroLRConfig",
    "HeteroLogisticRegression",
    "HostModel",
    "PSIAlignment",
    "PSIResult",
    "PartyTable",
    "VerticalDataset",
    "align_csv",
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
    "train_guest_alone",
]

# --- Deprecated (seams-packages): the credit-default story moved to rengo.showcase. ----------
# Old paths keep working for one release with a DeprecationWarning; resolved lazily, so vfl
# never imports the showcase layer. Remove this block in rengo 0.3.
from rengo.core.deprecation import alias_moved_modules, moved_names

alias_moved_modules({"rengo.vfl.hetero_credit_story": "rengo.showcase.credit_default"})
__getattr__ = moved_names(
    __name__,
    dict.fromkeys(
        ("CreditConsortium", "credit_consortium", "run_credit_default"), "rengo.showcase"
    ),
)
