"""SecureBoost (Cheng et al. 2019/2021): lossless vertical gradient-boosted trees.

The label party holds labels and (by default) the Paillier key pair; feature parties hold
columns, sum encrypted gradients into histograms and keep their own splits. Settings,
binning, split rule, the three roles, federated prediction, the estimator, the per-party
model files, and its description for the vertical runner (registered as ``"secureboost"``).
"""

from rengo.vfl.party_model_file import write_document
from rengo.vfl.secureboost.algorithm import SECUREBOOST
from rengo.vfl.secureboost.binning import FeatureBins, fit_bins
from rengo.vfl.secureboost.boosting import boost, grow_tree
from rengo.vfl.secureboost.config import KeyHolder, Objective, SecureBoostConfig
from rengo.vfl.secureboost.coordinator import secureboost_coordinator
from rengo.vfl.secureboost.encoding import GradientLayout, quantize
from rengo.vfl.secureboost.estimator import HeteroSecureBoost
from rengo.vfl.secureboost.guest import secureboost_guest
from rengo.vfl.secureboost.host import secureboost_host
from rengo.vfl.secureboost.local import train_alone
from rengo.vfl.secureboost.model import (
    FeatureImportance,
    HostSplit,
    SecureBoostGuestModel,
    SecureBoostHostModel,
    SecureBoostReport,
    TreeNode,
)
from rengo.vfl.secureboost.model_file import (
    StoredPartyModel,
    party_document,
    read_document,
    read_party_model,
    write_party_model,
)
from rengo.vfl.secureboost.predict import (
    predict_local,
    secureboost_predict_guest,
    secureboost_predict_host,
)

__all__ = [
    "SECUREBOOST",
    "FeatureBins",
    "FeatureImportance",
    "GradientLayout",
    "HeteroSecureBoost",
    "HostSplit",
    "KeyHolder",
    "Objective",
    "SecureBoostConfig",
    "SecureBoostGuestModel",
    "SecureBoostHostModel",
    "SecureBoostReport",
    "StoredPartyModel",
    "TreeNode",
    "boost",
    "fit_bins",
    "grow_tree",
    "party_document",
    "predict_local",
    "quantize",
    "read_document",
    "read_party_model",
    "secureboost_coordinator",
    "secureboost_guest",
    "secureboost_host",
    "secureboost_predict_guest",
    "secureboost_predict_host",
    "train_alone",
    "write_document",
    "write_party_model",
]
