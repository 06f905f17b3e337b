"""Coordinated hetero LR's description for the vertical runner (registered on import).

The coordinator holds the Paillier key pair and decrypts only masked values; the label party
(guest) and feature parties (hosts) run :mod:`rengo.vfl.hetero_lr.roles` to train and
:mod:`rengo.vfl.hetero_lr.predict` to score; prediction returns ``P(y = 1)`` per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rengo.core.options import Scalar
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair
from rengo.transport.channel import Channel
from rengo.vfl.hetero_lr.config import HeteroLRConfig, LinearModelConfig
from rengo.vfl.hetero_lr.math import sigmoid
from rengo.vfl.hetero_lr.objective import LOGISTIC_TAYLOR, QuadraticObjective
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
from rengo.vfl.registry import (
    AlignedData,
    KeySpec,
    Models,
    RoleContext,
    Roles,
    RoleState,
    VerticalAlgorithm,
    register,
)

Keypair = tuple[PaillierPublicKey, PaillierPrivateKey]


def make_keypair(config: LinearModelConfig, seed: int | None) -> Keypair:
    """The coordinator's key pair of ``config.key_bits`` (``seed``: tests only)."""
    return generate_paillier_keypair(config.key_bits, seed=seed)


def coordinated_roles(
    objective: QuadraticObjective,
    inverse_link: Callable[[np.ndarray], np.ndarray],
    dealt: Callable[[str, str, int], int] | None = None,
) -> tuple[Roles, Roles]:
    """The training and prediction roles of a coordinated hetero linear model.

    Parameters
    ----------
    objective
        The loss the guest and hosts train (see :mod:`rengo.vfl.hetero_lr.objective`).
    inverse_link
        Maps the federated linear predictor to the prediction (``sigmoid`` for LR).
    dealt
        ``dealt(guest, party, rows)``: obfuscators the coordinator deals ``party`` per batch
        (default: those of the objective's protocol, see
        :func:`~rengo.vfl.hetero_lr.roles.hetero_lr_coordinator`).

    Returns
    -------
    tuple of Roles
        Training roles, then prediction roles, for :class:`VerticalAlgorithm`.
    """

    def train_coordinator(
        channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
    ) -> CoordinatorReport:
        per_party = None
        if dealt is not None:
            per_party = lambda party, rows: dealt(ctx.label_party, party, rows)  # noqa: E731
        return hetero_lr_coordinator(
            channel, ctx.parties, ctx.label_party, keypair=state.keys, dealt=per_party
        )

    def train_guest(
        channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
    ) -> GuestModel:
        assert data is not None and data.aligned_labels is not None
        return hetero_lr_guest(
            channel,
            data.features,
            data.aligned_labels,
            ctx.hosts,
            ctx.config,
            coordinator=ctx.coordinator,
            seed=ctx.seed,
            objective=objective,
        )

    def train_host(
        channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
    ) -> HostModel:
        assert data is not None
        return hetero_lr_host(
            channel,
            data.features,
            ctx.label_party,
            coordinator=ctx.coordinator,
            objective=objective,
        )

    def predict_guest(
        channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
    ) -> np.ndarray:
        assert data is not None
        return hetero_lr_predict_guest(
            channel,
            data.features,
            state.model,
            ctx.hosts,
            mode=ctx.config.predict_mode,
            coordinator=ctx.coordinator,
            inverse_link=inverse_link,
        )

    train = Roles(coordinator=train_coordinator, label_party=train_guest, feature_party=train_host)
    predict = Roles(
        coordinator=_predict_coordinator, label_party=predict_guest, feature_party=_predict_host
    )
    return train, predict


def _predict_coordinator(
    channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
) -> int:
    return hetero_lr_predict_coordinator(channel, ctx.parties, ctx.label_party, state.keys)


def _predict_host(
    channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
) -> None:
    assert data is not None
    hetero_lr_predict_host(
        channel, data.features, state.model, ctx.label_party, coordinator=ctx.coordinator
    )


def describe(report: Any) -> str:
    """``"trained N epochs"`` from the coordinator's report."""
    if isinstance(report, CoordinatorReport):
        return f"trained {report.epochs_run} epochs"
    return "trained"


def summary(training: Any, scoring: Any) -> dict[str, Scalar]:
    """Epochs run, values decrypted in training and in scoring, for the run store."""
    out: dict[str, Scalar] = {}
    if isinstance(training, CoordinatorReport):
        out.update(epochs_run=training.epochs_run, decrypted_values=training.decrypted_values)
    out["scored_values"] = scoring if isinstance(scoring, int) else 0
    return out


_TRAIN, _PREDICT = coordinated_roles(LOGISTIC_TAYLOR, sigmoid)

HETERO_LR: VerticalAlgorithm[HeteroLRConfig] = register(
    VerticalAlgorithm(
        name="hetero_lr",
        title="coordinated hetero logistic regression",
        config_type=HeteroLRConfig,
        train=_TRAIN,
        predict=_PREDICT,
        models=Models(
            label_party=GuestModel, feature_party=HostModel, coordinator=CoordinatorReport
        ),
        keys=KeySpec(make=make_keypair, holder=lambda config: "coordinator"),
        output="probability",
        option_aliases={"obfuscators": "obfuscator_source"},
        describe=describe,
        summary=summary,
    )
)
