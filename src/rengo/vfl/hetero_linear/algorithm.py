"""Coordinated hetero linear regression's description for the vertical runner (registered
on import as ``"hetero_linear"``).

Hetero LR's protocol (:mod:`rengo.vfl.hetero_lr.roles`: the coordinator holds the Paillier
key pair and decrypts only masked values) with the squared loss
(:data:`~rengo.vfl.hetero_lr.objective.SQUARED`): the encrypted residual ``d = u - y`` is
exact, so training equals plaintext mini-batch training of the same model up to fixed-point
rounding. Prediction returns the value ``u`` per row.
"""

from __future__ import annotations

import numpy as np

from rengo.vfl.hetero_linear.config import HeteroLinearConfig
from rengo.vfl.hetero_lr.algorithm import (
    LINEAR_KEYS,
    MISSING_OPTION_FIX,
    describe,
    fills_missing,
    prediction_roles,
    summary,
    training_roles,
)
from rengo.vfl.hetero_lr.local import alone_hook
from rengo.vfl.hetero_lr.objective import SQUARED
from rengo.vfl.hetero_lr.roles import CoordinatorReport, GuestModel, HostModel
from rengo.vfl.registry import Models, VerticalAlgorithm, register


def identity(u: np.ndarray) -> np.ndarray:
    """The identity link's inverse: the prediction is the linear predictor."""
    return np.asarray(u, dtype=np.float64)


HETERO_LINEAR: VerticalAlgorithm[HeteroLinearConfig] = register(
    VerticalAlgorithm(
        name="hetero_linear",
        title="coordinated hetero linear regression",
        config_type=HeteroLinearConfig,
        train=training_roles(SQUARED),
        predict=prediction_roles(identity),
        models=Models(
            label_party=GuestModel, feature_party=HostModel, coordinator=CoordinatorReport
        ),
        keys=LINEAR_KEYS,
        output="values",
        describe=describe,
        summary=summary,
        alone=alone_hook(SQUARED, identity),
        resumable=True,
        missing_values=fills_missing,
        missing_fix=MISSING_OPTION_FIX,
    )
)
