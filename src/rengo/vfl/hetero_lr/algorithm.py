"""Coordinated hetero LR's description for the vertical runner (registered on import).

The coordinator holds the Paillier key pair and decrypts only masked values; the label party
(guest) and feature parties (hosts) run :mod:`rengo.vfl.hetero_lr.roles` to train and
:mod:`rengo.vfl.hetero_lr.predict` to score; prediction returns ``P(y = 1)`` per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

import numpy as np

from rengo.core.options import Scalar
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints
from rengo.vfl.hetero_lr.config import HeteroLRConfig, LinearModelConfig
from rengo.vfl.hetero_lr.local import train_alone
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
from rengo.vfl.progress import ProgressFn
from rengo.vfl.registry import (
    AlignedData,
    KeySpec,
    Models,
    Output,
    Role,
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


def scores_encrypted(config: LinearModelConfig) -> bool:
    """Whether scoring needs the coordinator's key pair: in ``predict_mode="encrypted"``
    each feature party sends its partial scores under the coordinator's key, so that the
    label party learns only their sum (with two or more feature parties it cannot tell
    one party's partial scores from another's; with one, the sum is that party's partial
    score, which the predictions reveal anyway). ``"plain"`` scoring needs no key, and a
    scoring-only run then makes none (see :mod:`rengo.vfl.hetero_lr.predict`)."""
    return config.predict_mode == "encrypted"


LINEAR_KEYS: KeySpec[Any] = KeySpec(
    make=make_keypair, holder=lambda config: "coordinator", scoring=scores_encrypted
)
"""The coordinated linear models' key material: the coordinator's Paillier key pair, made
for training and, in encrypted mode, for scoring (a scoring-only run makes a fresh one)."""


def coordinator_training_role(dealt: Callable[[Any, str, str, int], int] | None = None) -> Role:
    """The coordinator's training role of the coordinated hetero linear models.

    Parameters
    ----------
    dealt
        ``dealt(config, guest, party, rows)``: obfuscators the coordinator deals ``party``
        per batch of ``rows`` rows (default: those of hetero LR and linear regression, see
        :func:`~rengo.vfl.hetero_lr.roles.hetero_lr_coordinator`).

    Returns
    -------
    Role
        The role function for :class:`~rengo.vfl.registry.Roles`.
    """

    def train_coordinator(
        channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
    ) -> CoordinatorReport:
        per_party = None
        if dealt is not None:
            per_party = lambda party, rows: dealt(ctx.config, ctx.label_party, party, rows)  # noqa: E731
        return hetero_lr_coordinator(
            channel,
            ctx.parties,
            ctx.label_party,
            keypair=state.keys,
            dealt=per_party,
            progress=ctx.progress,
            checkpoints=ctx.checkpoints,
        )

    return train_coordinator


class GuestTraining(Protocol):
    """A coordinated linear model's label-party role function, as
    :func:`~rengo.vfl.hetero_lr.roles.hetero_lr_guest`."""

    def __call__(
        self,
        channel: Channel,
        features: np.ndarray,
        labels: np.ndarray,
        hosts: Sequence[str],
        config: Any,
        *,
        coordinator: str,
        seed: int | None,
        progress: ProgressFn | None,
        checkpoints: EpochCheckpoints | None,
    ) -> GuestModel:
        """Train the label party's side; return its model."""


class HostTraining(Protocol):
    """A coordinated linear model's feature-party role function, as
    :func:`~rengo.vfl.hetero_lr.roles.hetero_lr_host`."""

    def __call__(
        self,
        channel: Channel,
        features: np.ndarray,
        guest: str,
        *,
        coordinator: str,
        progress: ProgressFn | None,
        checkpoints: EpochCheckpoints | None,
    ) -> HostModel:
        """Train a feature party's side; return its model."""


def linear_training_roles(
    guest: GuestTraining,
    host: HostTraining,
    dealt: Callable[[Any, str, str, int], int] | None = None,
) -> Roles:
    """The training roles of a coordinated linear model: hetero LR's coordinator with the
    model's label-party and feature-party role functions.

    Parameters
    ----------
    guest, host
        The label party's and the feature parties' role functions.
    dealt
        Obfuscators the coordinator deals per batch (see :func:`coordinator_training_role`).

    Returns
    -------
    Roles
        Coordinator, label party and feature party roles.
    """

    def train_guest(
        channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
    ) -> GuestModel:
        assert data is not None and data.aligned_labels is not None
        return guest(
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

    def train_host(
        channel: Channel, ctx: RoleContext[Any], data: AlignedData | None, state: RoleState
    ) -> HostModel:
        assert data is not None
        return host(
            channel,
            data.features,
            ctx.label_party,
            coordinator=ctx.coordinator,
            progress=ctx.progress,
            checkpoints=ctx.checkpoints,
        )

    return Roles(
        coordinator=coordinator_training_role(dealt),
        label_party=train_guest,
        feature_party=train_host,
    )


def training_roles(objective: QuadraticObjective) -> Roles:
    """The training roles of hetero LR's protocol with the loss ``objective``.

    Parameters
    ----------
    objective
        The loss the guest and hosts train (see :mod:`rengo.vfl.hetero_lr.objective`).

    Returns
    -------
    Roles
        Coordinator, label party and feature party roles.
    """
    return linear_training_roles(
        partial(hetero_lr_guest, objective=objective), partial(hetero_lr_host, objective=objective)
    )


def prediction_roles(inverse_link: Callable[[np.ndarray], np.ndarray]) -> Roles:
    """The federated scoring roles of a coordinated hetero linear model
    (:mod:`rengo.vfl.hetero_lr.predict`).

    Parameters
    ----------
    inverse_link
        Maps the federated linear predictor to the prediction (``sigmoid`` for LR).

    Returns
    -------
    Roles
        Coordinator, label party and feature party roles.
    """

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
            obfuscator_scheme=ctx.config.obfuscator_scheme,
        )

    return Roles(
        coordinator=_predict_coordinator, label_party=predict_guest, feature_party=_predict_host
    )


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


MISSING_OPTION_FIX = (
    "set missing='mean' or missing='zero' (each party fills its own columns), or train "
    "algorithm='secureboost', which learns where missing values go"
)
"""What a refusal of empty cells suggests for the coordinated linear models."""


def fills_missing(config: Any) -> bool:
    """Whether ``config`` lets parties fill their own empty cells (``missing`` is not
    ``"refuse"``)."""
    return str(getattr(config, "missing", "refuse")) != "refuse"


def output(config: HeteroLRConfig) -> Output:
    """``P(y = 1)`` per row, or with ``multi_class="ovr"`` a row of class probabilities
    (``"auto"`` trains one-vs-rest on labels of more than two classes too: the estimator
    reads that off its fitted model; a job file names ``"ovr"``)."""
    return "probabilities" if config.multi_class == "ovr" else "probability"


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


HETERO_LR: VerticalAlgorithm[HeteroLRConfig] = register(
    VerticalAlgorithm(
        name="hetero_lr",
        title="coordinated hetero logistic regression",
        config_type=HeteroLRConfig,
        train=training_roles(LOGISTIC_TAYLOR),
        predict=prediction_roles(sigmoid),
        models=Models(
            label_party=GuestModel, feature_party=HostModel, coordinator=CoordinatorReport
        ),
        keys=LINEAR_KEYS,
        output=output,
        option_aliases={"obfuscators": "obfuscator_source"},
        describe=describe,
        summary=summary,
        alone=train_alone,
        resumable=True,
        missing_values=fills_missing,
        missing_fix=MISSING_OPTION_FIX,
    )
)
