"""A toy vertical algorithm, registered by the tests that use it: no coordinator role, the
label party holds the Paillier key (as SecureBoost's guest does), and prediction returns a
row of class probabilities per customer.

Each party's score of a row is the sum of its columns; feature parties send theirs
encrypted under the label party's key, the label party adds them up, and the model is the
mean total per class. Prediction: a softmax over minus the squared distance to each mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.core.options import OptionError, option
from rengo.crypto import PaillierPublicKey, encrypt_array, generate_paillier_keypair
from rengo.transport.channel import Channel
from rengo.vfl import (
    AlignedData,
    KeySpec,
    Models,
    RoleContext,
    Roles,
    RoleState,
    VerticalAlgorithm,
)


@dataclass(frozen=True)
class ToyConfig:
    """The toy's options."""

    scale: float = option(1.0, "Sharpness of the class probabilities.")
    key_bits: int = option(512, "The label party's Paillier key size.")

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise OptionError("scale", f"must be > 0, got {self.scale}")


@dataclass(frozen=True)
class ToyGuestModel:
    """The mean column total of each class."""

    means: np.ndarray


@dataclass(frozen=True)
class ToyHostModel:
    """How many columns the host added up."""

    columns: int


def _totals(
    channel: Channel, ctx: RoleContext[ToyConfig], data: AlignedData, state: RoleState
) -> np.ndarray:
    public, private = state.keys
    toy = channel.scope("toy")
    for host in ctx.hosts:
        toy.send(host, "public-key", public)
    total = data.features.sum(axis=1)
    for host in ctx.hosts:
        total = total + toy.recv(host, "sums").decrypt(private)
    return total


def _send_sums(channel: Channel, ctx: RoleContext[ToyConfig], data: AlignedData) -> None:
    toy = channel.scope("toy")
    public = toy.recv(ctx.label_party, "public-key")
    assert isinstance(public, PaillierPublicKey)
    toy.send(ctx.label_party, "sums", encrypt_array(data.features.sum(axis=1), public))


def train_guest(
    channel: Channel, ctx: RoleContext[ToyConfig], data: AlignedData | None, state: RoleState
) -> ToyGuestModel:
    assert data is not None and data.aligned_labels is not None
    total, y = _totals(channel, ctx, data, state), data.aligned_labels
    return ToyGuestModel(np.array([total[y == c].mean() for c in (0, 1)]))


def train_host(
    channel: Channel, ctx: RoleContext[ToyConfig], data: AlignedData | None, state: RoleState
) -> ToyHostModel:
    assert data is not None
    _send_sums(channel, ctx, data)
    return ToyHostModel(data.table.features.shape[1])


def predict_guest(
    channel: Channel, ctx: RoleContext[ToyConfig], data: AlignedData | None, state: RoleState
) -> np.ndarray:
    assert data is not None
    total = _totals(channel, ctx, data, state)
    logits = -ctx.config.scale * (total[:, None] - state.model.means[None, :]) ** 2
    logits -= logits.max(axis=1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def predict_host(
    channel: Channel, ctx: RoleContext[ToyConfig], data: AlignedData | None, state: RoleState
) -> None:
    assert data is not None
    _send_sums(channel, ctx, data)


TOY = VerticalAlgorithm(
    name="toy_sum",
    title="toy column sums",
    config_type=ToyConfig,
    train=Roles(label_party=train_guest, feature_party=train_host),
    predict=Roles(label_party=predict_guest, feature_party=predict_host),
    models=Models(label_party=ToyGuestModel, feature_party=ToyHostModel),
    keys=KeySpec(
        make=lambda config, seed: generate_paillier_keypair(config.key_bits, seed=seed),
        holder=lambda config: "label_party",
    ),
    output=lambda config: "probabilities",  # may depend on the config (e.g. the objective)
)
