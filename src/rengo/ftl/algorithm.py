"""Secure federated transfer learning's description for the vertical runner.

Registered with the vertical algorithm registry under ``"ftl"`` when imported (the registry
finds it through the ``rengo.vertical_algorithms`` entry point, since :mod:`rengo.ftl` sits
above :mod:`rengo.vfl`). The source is the runner's label party, the target its one feature
party. Training aligns the shared rows by PSI and runs :mod:`rengo.ftl.roles`; scoring does
not align (the source brings no rows: the target scores its own) and runs
:mod:`rengo.ftl.predict`, whose predictions the target receives. The source's Paillier key
pair is the runner's key material (it serves scoring too: a scoring-only run in homomorphic
mode makes the source a fresh one); the target makes its own for training. Importing this
module does not import PyTorch; the roles do, when they run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.core.errors import ConfigError
from rengo.core.options import Scalar
from rengo.crypto.keys import generate_paillier_keypair
from rengo.ftl.config import TransferConfig
from rengo.ftl.predict import ftl_predict_source, ftl_predict_target
from rengo.ftl.roles import (
    Keypair,
    SourceModel,
    TargetModel,
    TransferReport,
    ftl_coordinator,
    ftl_source,
    ftl_target,
)
from rengo.transport.channel import Channel
from rengo.vfl.registry import (
    AlignedData,
    KeySpec,
    Models,
    Output,
    RoleContext,
    RoleKind,
    Roles,
    RoleState,
    VerticalAlgorithm,
    register,
)

NAME = "ftl"


def make_source_keypair(config: TransferConfig, seed: int | None) -> Keypair | None:
    """The source's key pair of ``config.key_bits`` (``None`` in plaintext mode; ``seed``:
    tests only)."""
    return generate_paillier_keypair(config.key_bits, seed=seed) if config.homomorphic else None


def _key_holder(config: TransferConfig) -> RoleKind | None:
    """The source makes a key pair in homomorphic mode; plaintext mode makes none (so
    progress shows no key stage)."""
    return "label_party" if config.homomorphic else None


def _scoring_needs_keys(config: TransferConfig) -> bool:
    """Homomorphic scoring sends the target ``[[Phi]]`` under the source's key and has the
    source decrypt the masked scores, so a scoring-only run makes the source a key pair
    (any fresh one: it is no part of the kept model); plaintext scoring needs none."""
    return config.homomorphic


def _only_target(ctx: RoleContext[TransferConfig]) -> str:
    if len(ctx.hosts) != 1:
        raise ConfigError(
            f"federated transfer learning has one source and one target; the plan names "
            f"{len(ctx.hosts)} feature parties {list(ctx.hosts)}"
        )
    return ctx.hosts[0]


def _initial_encoder(state: RoleState) -> Any:
    """A torch module the party brought to train (``None``: the config's MLP)."""
    return (
        None
        if state.model is None or isinstance(state.model, (SourceModel, TargetModel))
        else state.model
    )


def _train_coordinator(
    channel: Channel, ctx: RoleContext[TransferConfig], data: AlignedData | None, state: RoleState
) -> TransferReport:
    return ftl_coordinator(
        channel, ctx.label_party, ctx.config, ctx.checkpoints, ctx.progress, _only_target(ctx)
    )


def _train_source(
    channel: Channel, ctx: RoleContext[TransferConfig], data: AlignedData | None, state: RoleState
) -> SourceModel:
    assert data is not None and data.labels is not None
    return ftl_source(
        channel,
        data.table.features,
        data.labels,
        data.rows,
        ctx.config,
        _only_target(ctx),
        keys=state.keys,
        coordinator=ctx.coordinator,
        seed=ctx.seed,
        own_seed=ctx.own_seed,
        encoder=_initial_encoder(state),
        checkpoints=ctx.checkpoints,
        progress=ctx.progress,
    )


def _train_target(
    channel: Channel, ctx: RoleContext[TransferConfig], data: AlignedData | None, state: RoleState
) -> TargetModel:
    assert data is not None
    return ftl_target(
        channel,
        data.table.features,
        data.labels,
        data.rows,
        ctx.config,
        ctx.label_party,
        coordinator=ctx.coordinator,
        own_seed=ctx.own_seed,
        encoder=_initial_encoder(state),
        checkpoints=ctx.checkpoints,
        progress=ctx.progress,
    )


def _predict_source(
    channel: Channel, ctx: RoleContext[TransferConfig], data: AlignedData | None, state: RoleState
) -> None:
    if not isinstance(state.model, SourceModel):
        raise ConfigError(f"{ctx.name} has no trained source model to score with")
    ftl_predict_source(channel, state.model, _only_target(ctx), ctx.config, state.keys)


def _predict_target(
    channel: Channel, ctx: RoleContext[TransferConfig], data: AlignedData | None, state: RoleState
) -> np.ndarray:
    assert data is not None
    if not isinstance(state.model, TargetModel):
        raise ConfigError(f"{ctx.name} has no trained target model to score with")
    return ftl_predict_target(channel, data.features, state.model, ctx.label_party, ctx.config)


def _output(config: TransferConfig) -> Output:
    return "probability" if config.objective == "binary" else "probabilities"


def _describe(report: Any) -> str:
    if isinstance(report, TransferReport) and report.losses:
        held = report.validation_losses
        best = (
            f"; lowest validation loss {min(held):.4f} after epoch {report.best_epoch}"
            if held
            else ""
        )
        last = f"last epoch's training loss {report.losses[-1]:.4f}"
        return f"trained {report.epochs_run} epochs ({last}{best})"
    return "trained"


def _summary(training: Any, scoring: Any) -> dict[str, Scalar]:
    if isinstance(training, TransferReport) and training.losses:
        out: dict[str, Scalar] = {
            "epochs_run": training.epochs_run,
            "final_loss": training.losses[-1],
        }
        if training.validation_losses:
            out["best_epoch"] = training.best_epoch
            out["best_validation_loss"] = min(training.validation_losses)
        return out
    return {}


FTL: VerticalAlgorithm[TransferConfig] = register(
    VerticalAlgorithm(
        name=NAME,
        title="secure federated transfer learning (Liu et al. 2020)",
        config_type=TransferConfig,
        train=Roles(
            coordinator=_train_coordinator,
            label_party=_train_source,
            feature_party=_train_target,
            unmatched_rows=True,  # each party learns from its own rows beyond the overlap
        ),
        predict=Roles(
            label_party=_predict_source,
            feature_party=_predict_target,
            aligned=False,
            tables=("feature_party",),
        ),
        models=Models(
            label_party=SourceModel, feature_party=TargetModel, coordinator=TransferReport
        ),
        keys=KeySpec(make=make_source_keypair, holder=_key_holder, scoring=_scoring_needs_keys),
        output=_output,
        labels_at=("label_party", "feature_party"),
        scored_by="feature_party",
        describe=_describe,
        summary=_summary,
        resumable=True,
        estimator="rengo.ftl.estimator:TransferClassifier",
    )
)
