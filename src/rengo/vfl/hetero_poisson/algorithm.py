"""Coordinated hetero Poisson regression's description for the vertical runner (registered
on import as ``"hetero_poisson"``).

Hetero LR's coordinator (key pair, masked decryptions) with the Poisson guest and hosts of
:mod:`rengo.vfl.hetero_poisson.roles` (an encrypted multiplicative chain of ``exp(u_k)``);
scoring is hetero LR's federated scoring with ``exp`` as inverse link, so prediction returns
the predicted mean count per row for one unit of exposure: the **rate** (claim frequency).
The label party may bring an exposure per training row (``exposure = true`` below): its
expected count is then ``exposure * rate`` (see :mod:`rengo.vfl.hetero_poisson.roles`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from rengo.metrics import FREQUENCY_METRICS, frequency_metrics
from rengo.transport.channel import Channel
from rengo.vfl.hetero_lr.algorithm import (
    LINEAR_KEYS,
    MISSING_OPTION_FIX,
    describe,
    fills_missing,
    linear_training_roles,
    prediction_roles,
    summary,
)
from rengo.vfl.hetero_lr.local import alone_hook, exposed_alone_hook
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
    RoleState,
    VerticalAlgorithm,
    register,
)

HELD_OUT_METRICS = FREQUENCY_METRICS
"""The names :func:`held_out_metrics` returns, in order."""


def held_out_metrics(truth: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Mean Poisson deviance, its share explained (D^2), the actuarial Gini coefficient of
    the ranking by predicted mean, RMSE and MAE of predicted means (job runs); no Gini
    where every held-out count is 0 (no claims to order): :func:`rengo.metrics.frequency_metrics`
    without an exposure."""
    return frequency_metrics(truth, predictions)


def train_exposed_guest(
    channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
) -> GuestModel:
    """The label party's training role, with its exposure where it brought one."""
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
        exposure=data.aligned_exposure,
    )


TRAINING = replace(
    linear_training_roles(hetero_poisson_guest, hetero_poisson_host, obfuscators_per_batch),
    label_party=train_exposed_guest,
)
"""Hetero LR's coordinator and the Poisson guest (with its exposure) and hosts."""


def exposure_metrics(
    counts: np.ndarray, rates: np.ndarray, exposure: np.ndarray
) -> dict[str, float]:
    """The held-out metrics of counts observed over ``exposure``, from predicted rates, as
    an actuary reads them (scikit-learn's Poisson regression example): the mean Poisson
    deviance and D^2 of the frequencies ``counts / exposure`` weighted by exposure (the
    deviance ``sum(d(y, e r)) / sum(e)``, as
    :meth:`~rengo.vfl.HeteroPoissonRegression.score` reports it), the
    Gini of the ranking by predicted rate weighted by exposure, and RMSE and MAE of the
    counts against their expected counts ``exposure * rates``."""
    return frequency_metrics(counts, rates, exposure)


HETERO_POISSON: VerticalAlgorithm[HeteroPoissonConfig] = register(
    VerticalAlgorithm(
        name="hetero_poisson",
        title="coordinated hetero Poisson regression",
        config_type=HeteroPoissonConfig,
        train=TRAINING,
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
        exposure_metrics=exposure_metrics,
        alone_exposed=exposed_alone_hook(POISSON, poisson_forward),
    )
)
