"""Coordinated hetero logistic regression (Hardy et al. 2017, as FATE runs it, with masked
decryptions): settings, role functions, federated scoring, plaintext math, the estimator,
and its description for the vertical runner (registered as ``"hetero_lr"``)."""

from rengo.core.deprecation import moved_names
from rengo.vfl.hetero_lr.algorithm import HETERO_LR
from rengo.vfl.hetero_lr.config import HeteroLRConfig, PredictMode
from rengo.vfl.hetero_lr.estimator import HeteroLogisticRegression
from rengo.vfl.hetero_lr.predict import (
    hetero_lr_predict_coordinator,
    hetero_lr_predict_guest,
    hetero_lr_predict_host,
)
from rengo.vfl.hetero_lr.roles import (
    CoordinatorReport,
    GuestModel,
    HostModel,
    hetero_lr_coordinator,
    hetero_lr_guest,
    hetero_lr_host,
)

# ``rengo.vfl.hetero_lr`` was a module that also held the shared vertical data types.
_MOVED = ("PartyInput", "PartyTable", "VerticalDataset", "align_rows", "as_vertical_dataset")
__getattr__ = moved_names(__name__, dict.fromkeys(_MOVED, "rengo.vfl.common"))

__all__ = [
    "HETERO_LR",
    "CoordinatorReport",
    "GuestModel",
    "HeteroLRConfig",
    "HeteroLogisticRegression",
    "HostModel",
    "PredictMode",
    "hetero_lr_coordinator",
    "hetero_lr_guest",
    "hetero_lr_host",
    "hetero_lr_predict_coordinator",
    "hetero_lr_predict_guest",
    "hetero_lr_predict_host",
]
