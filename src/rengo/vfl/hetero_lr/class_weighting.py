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

One-vs-rest (K class models, :mod:`rengo.vfl.hetero_lr.one_vs_rest`) weighs as scikit-learn's
``LogisticRegression(multi_class="ovr", class_weight=...)`` does: ``"balanced"`` on each
class model's own 0/1 labels (class k's rows ``n / (2 n_k)``, the rest ``n / (2 (n - n_k))``),
a weight per class on every class row of a row by that row's class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.core.errors import ConfigError
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.keys import PaillierPublicKey
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.data.class_weights import BALANCED, NO_CLASS_WEIGHT, class_weights
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.objective import LocalObjective

WEIGHT_BITS = 16
"""Fractional bits of the class weights in the encrypted residual and squares."""

ROW_WEIGHTS = "row-weights"
"""(once, with ``compute_loss``) guest -> hosts: ``Enc(s)`` of every aligned row."""


@dataclass(frozen=True)
class GuestWeighting:
    """The label party's class weights (quantised to :data:`WEIGHT_BITS`): per 0/1 label
    (``classes`` 1, binary); one-vs-rest (``classes`` K), per class model and 0/1 label
    (``by_class`` K x 2, balanced) or per class of the row (``by_class`` of K)."""

    by_class: np.ndarray
    classes: int = 1

    def rows(self, labels: np.ndarray) -> np.ndarray:
        """Each row's weight, from its 0/1 label (one-vs-rest: of whole rows' K class rows,
        in order, as every batch holds them)."""
        y = np.asarray(labels, dtype=np.int64)
        if self.classes == 1:
            weights: np.ndarray = self.by_class[y]
            return weights
        groups = y.reshape(-1, self.classes)
        if self.by_class.ndim == 2:
            per_model: np.ndarray = self.by_class[np.arange(self.classes)[None, :], groups]
            return per_model.ravel()
        by_row: np.ndarray = np.repeat(self.by_class[np.argmax(groups, axis=1)], self.classes)
        return by_row


def weighted(config: LinearModelConfig) -> bool:
    """Whether the run weighs classes (every role reads it from the set-up's config)."""
    return config.class_weight != NO_CLASS_WEIGHT


def guest_weighting(
    config: LinearModelConfig,
    objective: LocalObjective,
    y: np.ndarray,
    who: str,
    classes: int = 1,
) -> GuestWeighting | None:
    """The label party's class weights from its training labels (None: unweighted);
    one-vs-rest, ``y`` holds the 0/1 labels of the K = ``classes`` class rows of each row.

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
    scale = 2.0**WEIGHT_BITS
    if classes > 1:
        per_class = y.reshape(-1, classes)
        if config.class_weight == BALANCED:  # each class model balances its own labels
            table = np.array(
                [_binary_weights(per_class[:, k], BALANCED, who) for k in range(classes)]
            )
        else:
            codes = np.argmax(per_class, axis=1)
            named = class_weights(codes, config.class_weight, who, classes)
            assert named is not None
            table = np.array([named[k] for k in range(classes)])
        return GuestWeighting(np.rint(table * scale) / scale, classes)
    return GuestWeighting(np.rint(_binary_weights(y, config.class_weight, who) * scale) / scale)


def _binary_weights(y: np.ndarray, setting: str, who: str) -> np.ndarray:
    weights = class_weights(y, setting, who, 2)
    assert weights is not None
    return np.array([weights[0], weights[1]])


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
