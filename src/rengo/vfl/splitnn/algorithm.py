"""SplitNN's description for the vertical runner (registered on import as ``"splitnn"``).

No keys, and a coordinator that only follows the epochs: embeddings and gradients travel
in the clear between the label party and each feature party (see
:mod:`rengo.vfl.splitnn.roles` for what each learns). Prediction returns ``P(y = 1)`` per
row for ``task="binary"``, a row of class probabilities for ``"multiclass"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.core.options import Scalar
from rengo.transport.channel import Channel
from rengo.vfl.registry import (
    AlignedData,
    Models,
    Output,
    RoleContext,
    Roles,
    RoleState,
    VerticalAlgorithm,
    register,
)
from rengo.vfl.splitnn.config import SplitNNConfig
from rengo.vfl.splitnn.coordinator import SplitNNReport, splitnn_coordinator
from rengo.vfl.splitnn.predict import splitnn_predict_feature_party, splitnn_predict_label_party
from rengo.vfl.splitnn.roles import (
    SplitNNFeatureModel,
    SplitNNLabelModel,
    splitnn_feature_party,
    splitnn_label_party,
)


def _train_label(
    channel: Channel, ctx: RoleContext[SplitNNConfig], data: AlignedData | None, state: RoleState
) -> SplitNNLabelModel:
    assert data is not None and data.aligned_labels is not None
    return splitnn_label_party(
        channel,
        data.features,
        data.aligned_labels,
        ctx.hosts,
        ctx.config,
        seed=ctx.seed,
        own_seed=ctx.own_seed,
        table=data.table,
        checkpoints=ctx.checkpoints,
        progress=ctx.progress,
        coordinator=ctx.coordinator,
    )


def _train_coordinator(
    channel: Channel, ctx: RoleContext[SplitNNConfig], data: AlignedData | None, state: RoleState
) -> SplitNNReport:
    return splitnn_coordinator(
        channel,
        ctx.label_party,
        ctx.config,
        checkpoints=ctx.checkpoints,
        progress=ctx.progress,
    )


def _train_feature(
    channel: Channel, ctx: RoleContext[SplitNNConfig], data: AlignedData | None, state: RoleState
) -> SplitNNFeatureModel:
    assert data is not None
    return splitnn_feature_party(
        channel,
        data.features,
        ctx.label_party,
        ctx.config,
        own_seed=ctx.own_seed,
        checkpoints=ctx.checkpoints,
        progress=ctx.progress,
    )


def _predict_label(
    channel: Channel, ctx: RoleContext[SplitNNConfig], data: AlignedData | None, state: RoleState
) -> np.ndarray:
    assert data is not None
    return splitnn_predict_label_party(
        channel, data.features, state.model, ctx.hosts, rows=data.rows
    )


def _predict_feature(
    channel: Channel, ctx: RoleContext[SplitNNConfig], data: AlignedData | None, state: RoleState
) -> None:
    assert data is not None
    splitnn_predict_feature_party(
        channel, data.features, state.model, ctx.label_party, rows=data.rows
    )


def _output(config: SplitNNConfig) -> Output:
    return "probability" if config.task == "binary" else "probabilities"


def _describe(report: Any) -> str:
    if isinstance(report, SplitNNReport):
        return f"trained {report.epochs_run} epochs (split learning)"
    return "trained (split learning)"


def _summary(training: Any, scoring: Any) -> dict[str, Scalar]:
    if isinstance(training, SplitNNReport):
        return {"epochs_run": training.epochs_run}
    return {}


SPLITNN: VerticalAlgorithm[SplitNNConfig] = register(
    VerticalAlgorithm(
        name="splitnn",
        title="split neural network (split learning, plaintext embeddings)",
        config_type=SplitNNConfig,
        train=Roles(
            coordinator=_train_coordinator,
            label_party=_train_label,
            feature_party=_train_feature,
            coordinator_epochs=False,
        ),
        predict=Roles(label_party=_predict_label, feature_party=_predict_feature),
        models=Models(
            label_party=SplitNNLabelModel,
            feature_party=SplitNNFeatureModel,
            coordinator=SplitNNReport,
        ),
        keys=None,
        output=_output,
        describe=_describe,
        summary=_summary,
        resumable=True,
    )
)
