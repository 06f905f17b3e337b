"""Coordinated hetero Poisson regression's description for the vertical runner (registered
on import as ``"hetero_poisson"``).

Hetero LR's coordinator (key pair, masked decryptions) with the Poisson guest and hosts of
:mod:`rengo.vfl.hetero_poisson.roles` (an encrypted multiplicative chain of ``exp(u_k)``);
scoring is hetero LR's federated scoring with ``exp`` as inverse link, so prediction returns
the predicted mean count per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.metrics import mae, poisson_deviance, rmse
from rengo.transport.channel import Channel
from rengo.vfl.hetero_lr.algorithm import (
    LINEAR_KEYS,
    MISSING_OPTION_FIX,
    coordinator_training_role,
    describe,
    fills_missing,
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
from rengo.vfl.registry import (
    AlignedData,
    Models,
    RoleContext,
    Roles,
    RoleState,
    VerticalAlgorithm,
    register,
)


def _train_guest(
    channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
) -> GuestModel:
    assert data is not None and data.aligned_labels is not None
    return hetero_poisson_guest(
        channel,
        data.features,
        data.aligned_labels,
        ctx.hosts,
        ctx.config,
        coordinator=ctx.coordinator,
        seed=ctx.seed,
        progress=ctx.progress,
        checkpoints=ctx.checkpoints,
    )


def _train_host(
    channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
) -> HostModel:
    assert data is not None
    return hetero_poisson_host(
        channel,
        data.features,
        ctx.label_party,
        coordinator=ctx.coordinator,
        progress=ctx.progress,
        checkpoints=ctx.checkpoints,
    )


def held_out_metrics(truth: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Mean Poisson deviance, RMSE and MAE of predicted means (job runs)."""
    return {
        "poisson_deviance": poisson_deviance(truth, predictions),
        "rmse": rmse(truth, predictions),
        "mae": mae(truth, predictions),
    }


HETERO_POISSON: VerticalAlgorithm[HeteroPoissonConfig] = register(
    VerticalAlgorithm(
        name="hetero_poisson",
        title="coordinated hetero Poisson regression",
        config_type=HeteroPoissonConfig,
        train=Roles(
            coordinator=coordinator_training_role(obfuscators_per_batch),
            label_party=_train_guest,
            feature_party=_train_host,
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
        alone=alone_hook(POISSON, poisson_forward),
        resumable=True,
        missing_values=fills_missing,
        missing_fix=MISSING_OPTION_FIX,
    )
)
