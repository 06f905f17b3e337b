"""SecureBoost on the label party's columns alone: the same code, no other party, no message.

The empty coalition of vertical party valuation (:mod:`rengo.valuation.vertical`) is the
label party training alone; :func:`train_alone` runs :func:`~rengo.vfl.secureboost.boosting.boost`
with no feature party (every split is one of its own, in plaintext, with the same binning,
quantised gradients, split rule and stopping rule as the federated run).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rengo.vfl.secureboost.boosting import NoHosts, boost
from rengo.vfl.secureboost.config import SecureBoostConfig
from rengo.vfl.secureboost.predict import predict_local

ALONE = "label-party"
"""The name the label party's own splits carry in a model trained alone."""


def train_alone(
    config: SecureBoostConfig, features: np.ndarray, labels: np.ndarray, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """Train on the label party's own columns and labels; return its predictor.

    Parameters
    ----------
    config
        The settings of the federated model it stands in for.
    features, labels
        The label party's training rows and labels.
    seed
        Fixes the held-out and subsampled rows.

    Returns
    -------
    callable
        Predictions (as the objective's output) of rows of the label party's columns.
    """
    model = boost(NoHosts(), ALONE, features, labels, config, seed)
    return lambda rows: predict_local(model, rows, ALONE)
