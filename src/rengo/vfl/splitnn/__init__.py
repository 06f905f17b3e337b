"""SplitNN: vertical split learning (Vepakomma et al. 2018) with PyTorch bottom and top
models, label-leakage measurement and noise defences, Marvell among them (Li et al., ICLR
2022); registered
as ``"splitnn"``. PyTorch (the ``torch`` extra) is imported only when a network is built."""

from rengo.vfl.splitnn.algorithm import SPLITNN
from rengo.vfl.splitnn.central import CentralSplitNN, fit_central
from rengo.vfl.splitnn.config import SplitNNConfig
from rengo.vfl.splitnn.coordinator import SplitNNReport, splitnn_coordinator
from rengo.vfl.splitnn.estimator import SplitNNClassifier
from rengo.vfl.splitnn.leakage import defend_gradients, leak_auc
from rengo.vfl.splitnn.marvell import (
    MarvellCovariance,
    marvell_auc_bound,
    marvell_noise,
    marvell_objective,
    marvell_sum_kl,
    solve_marvell,
)
from rengo.vfl.splitnn.predict import splitnn_predict_feature_party, splitnn_predict_label_party
from rengo.vfl.splitnn.roles import (
    EpochRecord,
    SplitNNFeatureModel,
    SplitNNLabelModel,
    splitnn_feature_party,
    splitnn_label_party,
)

__all__ = [
    "SPLITNN",
    "CentralSplitNN",
    "EpochRecord",
    "MarvellCovariance",
    "SplitNNClassifier",
    "SplitNNConfig",
    "SplitNNFeatureModel",
    "SplitNNLabelModel",
    "SplitNNReport",
    "defend_gradients",
    "fit_central",
    "leak_auc",
    "marvell_auc_bound",
    "marvell_noise",
    "marvell_objective",
    "marvell_sum_kl",
    "solve_marvell",
    "splitnn_coordinator",
    "splitnn_feature_party",
    "splitnn_label_party",
    "splitnn_predict_feature_party",
    "splitnn_predict_label_party",
]
