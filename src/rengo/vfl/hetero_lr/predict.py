"""Federated scoring with a trained hetero LR model: every party adds its partial score.

Two modes, chosen by the guest, with different disclosures:

* ``"encrypted"`` (default): hosts send ``Enc(u_k)``; the guest sums them, masks the sum with
  a one-time pad and the coordinator decrypts noise; the guest removes the mask and adds its
  own part. The guest learns only the total score ``u`` of each row, which the predicted
  probability ``sigmoid(u)`` reveals anyway; hosts and coordinator learn nothing.
* ``"plain"`` (FATE's way, no cryptography): hosts send ``u_k = X_k w_k`` in the clear, so
  the guest also learns each host's partial score per row (one linear projection of that
  host's features per row, with weights unknown to the guest).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.crypto import (
    EncryptedArray,
    ObfuscatorPool,
    PaillierPrivateKey,
    PaillierPublicKey,
    encrypt_array,
)
from rengo.crypto.randomness import random_source
from rengo.transport.channel import Channel
from rengo.vfl.hetero_lr_masking import decrypt_masked, mask_encrypted, unmask
from rengo.vfl.hetero_lr_math import sigmoid
from rengo.vfl.hetero_lr_roles import COORDINATOR, GuestModel, HostModel

PredictMode = Literal["encrypted", "plain"]
PREDICT_SETUP = ("hlr-predict", "setup")  # guest -> hosts, coordinator: mode and row count
PREDICT_KEY = ("hlr-predict", "public-key")  # coordinator -> every party
PARTIAL = ("hlr-predict", "partial")  # host -> guest: u_k or Enc(u_k)
MASKED = ("hlr-predict", "masked")  # guest -> coordinator: Enc(sum u_k + r)
UNMASKED = ("hlr-predict", "unmasked")  # coordinator -> guest: sum u_k + r mod n
PRECISION_BITS = 32


def hetero_lr_predict_coordinator(
    channel: Channel,
    parties: Sequence[str],
    guest: str,
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey],
) -> int:
    """Decrypt the guest's masked sum of host scores (encrypted mode); returns values seen."""
    public, private = keypair
    setup = channel.recv(guest, PREDICT_SETUP)
    if setup["mode"] != "encrypted":
        return 0
    for party in parties:
        channel.send(party, PREDICT_KEY, public)
    masked = channel.recv(guest, MASKED)
    if not isinstance(masked, EncryptedArray) or masked.public_key != public:
        raise ProtocolError("masked scores are not under the coordinator's key")
    channel.send(guest, UNMASKED, decrypt_masked(masked, private))
    return masked.size


def hetero_lr_predict_host(
    channel: Channel,
    features: np.ndarray,
    model: HostModel,
    guest: str,
    *,
    coordinator: str = COORDINATOR,
) -> None:
    """Send this host's partial scores for the aligned rows, encrypted or in the clear."""
    x = np.asarray(features, dtype=np.float64)
    setup = channel.recv(guest, PREDICT_SETUP)
    if int(setup["rows"]) != len(x):
        raise DataError(f"{channel.name} holds {len(x)} rows to score, guest {setup['rows']}")
    partial = x @ model.weights
    if setup["mode"] == "plain":
        channel.send(guest, PARTIAL, partial)
        return
    public = channel.recv(coordinator, PREDICT_KEY)
    if not isinstance(public, PaillierPublicKey):
        raise ProtocolError("the coordinator sent no Paillier public key")
    channel.send(guest, PARTIAL, encrypt_array(partial, public, precision_bits=PRECISION_BITS))


def hetero_lr_predict_guest(
    channel: Channel,
    features: np.ndarray,
    model: GuestModel,
    hosts: Sequence[str],
    *,
    mode: PredictMode = "encrypted",
    coordinator: str = COORDINATOR,
) -> np.ndarray:
    """Gather every party's partial score of the aligned rows; return ``P(y = 1)``."""
    if mode not in ("encrypted", "plain"):
        raise ConfigError(f"mode must be 'encrypted' or 'plain', got {mode!r}")
    if not hosts:
        raise ConfigError("hetero LR scoring needs at least one host (feature party)")
    x = np.asarray(features, dtype=np.float64)
    setup = {"mode": mode, "rows": len(x)}
    for role in [*hosts, coordinator]:
        channel.send(role, PREDICT_SETUP, setup)
    score = x @ model.weights + model.intercept
    if mode == "plain":
        for host in hosts:
            partial = channel.recv(host, PARTIAL)
            if not isinstance(partial, np.ndarray) or partial.shape != (len(x),):
                raise ProtocolError(f"{host} sent partial scores of the wrong shape")
            score = score + partial
        return sigmoid(score)
    public = channel.recv(coordinator, PREDICT_KEY)
    partials = [channel.recv(host, PARTIAL) for host in hosts]
    for host, partial in zip(hosts, partials, strict=True):
        if (
            not isinstance(partial, EncryptedArray)
            or partial.public_key != public
            or partial.shape != (len(x),)
            or partial.exponent != PRECISION_BITS
        ):
            raise ProtocolError(f"{host} sent malformed encrypted partial scores")
    total = partials[0]
    for more in partials[1:]:
        total = total + more
    masked, mask = mask_encrypted(total, random_source(None), ObfuscatorPool(public))
    channel.send(coordinator, MASKED, masked)
    return sigmoid(score + unmask(channel.recv(coordinator, UNMASKED), mask, public))
