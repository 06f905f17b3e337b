"""Coordinated hetero Poisson regression's description for the vertical runner (registered
on import as ``"hetero_poisson"``).

Hetero LR's coordinator (key pair, masked decryptions) with the Poisson guest and hosts of
:mod:`rengo.vfl.hetero_poisson.roles` (an encrypted multiplicative chain of ``exp(u_k)``);
scoring is hetero LR's federated scoring with ``exp`` as inverse link, so prediction returns
the predicted mean count per row.
"""

from __future__ import annotations

import numpy as np

from rengo.metrics import mae, poisson_deviance, rmse
from rengo.vfl.hetero_lr.algorithm import (
    LINEAR_KEYS,
    MISSING_OPTION_FIX,
    describe,
    fills_missing,
    linear_training_roles,
    prediction_roles,
    summary,
)
from rengo.vfl.hetero_lr.local import alone_hook
from rengo.vfl.hetero_lr.roles import CoordinatorReport, GuestModel, HostModel
from rengo.vfl.hetero_poisson.config import HeteroPoissonConfig
from rengo.vfl.hetero_poisson.roles import (
    POISSON,
    hetero_poisson_guest,
    hetero_poisson_host,
    obfuscators_per_batch,
    poisson_forward,
)
from rengo.vfl.registry import Models, VerticalAlgorithm, register

HELD_OUT_METRICS = ("poisson_deviance", "rmse", "mae")
"""The names :func:`held_out_metrics` returns, in order."""


def held_out_metrics(truth: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Mean Poisson deviance, RMSE and MAE of predicted means (job runs)."""
    scores = zip(HELD_OUT_METRICS, (poisson_deviance, rmse, mae), strict=True)
    return {name: score(truth, predictions) for name, score in scores}


HETERO_POISSON: VerticalAlgorithm[HeteroPoissonConfig] = register(
    VerticalAlgorithm(
        name="hetero_poisson",
        title="coordinated hetero Poisson regression",
        config_type=HeteroPoissonConfig,
        train=linear_training_roles(
            hetero_poisson_guest, hetero_poisson_host, obfuscators_per_batch
        ),
        predict=prediction_roles(poisson_forward),
        models=Models(
            label_party=GuestModel, feature_party=HostModel, coordinator=CoordinatorReport
        ),
        keys=LINEAR_KEYS,
        output="values",
        describe=describe,
        summary=summary,
        metrics=held_out_metrics,
        metric_names=HELD_OUT_METRICS,
        alone=alone_hook(POISSON, poisson_forward),
        resumable=True,
        missing_values=fills_missing,
        missing_fix=MISSING_OPTION_FIX,
    )
)
