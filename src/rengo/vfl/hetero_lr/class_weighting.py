"""Class weights in coordinated hetero LR: each row's Taylor loss times its class's weight.

The weighted loss ``sum_i s_i l(u_i, y_i)`` (scikit-learn's
``LogisticRegression(class_weight=...)``; King & Zeng, "Logistic regression in rare events
data", Political Analysis 9, 2001) has the residual ``s_i d_i``, which the label party forms
from the hosts' ``Enc(u_k)`` as ``s ⊙ Enc(u + offset)``: one plaintext multiplication per
row, the weights fixed point with :data:`WEIGHT_BITS` fractional bits (so the protocol
trains exactly the weights :func:`guest_weighting` quantised). The weights are a function of
the label, so they never leave the label party in clear.

The encrypted loss needs ``sum_i s_i u_ki^2`` from every host and ``sum_i s_i u_ki u_li``
from every pair: with ``compute_loss`` the label party sends each host ``Enc(s)`` of every
row once (:data:`ROW_WEIGHTS`); a host then forms its weighted square as an encrypted dot
product ``Enc(s)[B] . (a u_k^2)`` and sends later hosts ``Enc(s ⊙ u_k)`` (re-randomised)
for their cross terms instead of ``Enc(u_k)``. Hosts see ciphertexts only, as before; the
coordinator sees masked values only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.core.errors import ConfigError
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.data.class_weights import NO_CLASS_WEIGHT, class_weights
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.objective import LocalObjective

WEIGHT_BITS = 16
"""Fractional bits of the class weights in the encrypted residual and squares."""

ROW_WEIGHTS = "row-weights"
"""(once, with ``compute_loss``) guest -> hosts: ``Enc(s)`` of every aligned row."""


@dataclass(frozen=True)
class GuestWeighting:
    """The label party's class weights: per class (quantised to :data:`WEIGHT_BITS`)."""

    by_class: np.ndarray

    def rows(self, labels: np.ndarray) -> np.ndarray:
        """Each row's weight, from its 0/1 label."""
        weights: np.ndarray = self.by_class[np.asarray(labels, dtype=np.int64)]
        return weights


def weighted(config: LinearModelConfig) -> bool:
    """Whether the run weighs classes (every role reads it from the set-up's config)."""
    return config.class_weight != NO_CLASS_WEIGHT


def guest_weighting(
    config: LinearModelConfig, objective: LocalObjective, y: np.ndarray, who: str
) -> GuestWeighting | None:
    """The label party's class weights from its training labels (None: unweighted).

    Raises
    ------
    ConfigError
        When the objective's labels are not classes (only 0/1 labels are weighed).
    DataError
        As :func:`rengo.data.class_weights.class_weights` (naming the party).
    """
    if not weighted(config):
        return None
    if objective.labels != "binary":
        raise ConfigError(
            f"{who}: class_weight = {config.class_weight!r} weighs classes, and the "
            f"{objective.name} loss has none; remove class_weight"
        )
    weights = class_weights(y, config.class_weight, who, 2)
    assert weights is not None
    scale = 2.0**WEIGHT_BITS
    return GuestWeighting(np.rint(np.array([weights[0], weights[1]]) * scale) / scale)


def weighted_residual(
    enc_u: EncryptedArray, offset: np.ndarray, weights: np.ndarray, exponent: int
) -> EncryptedArray:
    """``Enc(s ⊙ (u + offset))`` read at ``exponent + WEIGHT_BITS`` fractional bits (the
    unweighted residual's ``exponent`` plus the weights'): the weighted residual."""
    scaled = enc_u.multiply(weights, WEIGHT_BITS) + weights * offset
    return EncryptedArray(enc_u.public_key, scaled.ciphertexts, exponent + WEIGHT_BITS)


def encrypted_row_weights(
    weighting: GuestWeighting, y: np.ndarray, public: PaillierPublicKey
) -> EncryptedArray:
    """``Enc(s)`` of every row (fresh), sent to every host once."""
    return encrypt_array(weighting.rows(y), public, precision_bits=WEIGHT_BITS)


def host_weighted_square(
    enc_weights: EncryptedArray, u: np.ndarray, square: float, loss_exponent: int
) -> EncryptedArray:
    """``Enc(sum_i s_i a u_i^2)`` of a batch at ``loss_exponent`` (not fresh: re-randomise
    before sending), from the batch's ``Enc(s)``."""
    terms = (square * u * u)[:, None]
    return enc_weights.matmul(terms, loss_exponent - WEIGHT_BITS)


def host_weighted_partial(
    enc_weights: EncryptedArray, u: np.ndarray, precision_bits: int, pool: ObfuscatorPool
) -> EncryptedArray:
    """``Enc(s ⊙ u_k)`` of a batch at ``precision_bits + WEIGHT_BITS``, re-randomised: what
    a host sends later hosts for the weighted cross terms."""
    return enc_weights.multiply(u, precision_bits).rerandomize(pool.take(len(u)))


__all__ = [
    "ROW_WEIGHTS",
    "WEIGHT_BITS",
    "GuestWeighting",
    "encrypted_row_weights",
    "guest_weighting",
    "host_weighted_partial",
    "host_weighted_square",
    "weighted",
    "weighted_residual",
]
