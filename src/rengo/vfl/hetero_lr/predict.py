"""Federated scoring with a trained hetero LR model: every party adds its partial score.

Two modes, chosen by the guest, with different disclosures:

* ``"encrypted"`` (default): hosts send ``Enc(u_k)``; the guest sums them, masks the sum with
  a one-time pad and the coordinator decrypts noise; the guest removes the mask and adds its
  own part. The guest learns only the total score ``u`` of each row, which the predicted
  probability ``sigmoid(u)`` reveals anyway; hosts and coordinator learn nothing.
* ``"plain"`` (FATE's way, no cryptography): hosts send ``u_k = X_k w_k`` in the clear, so
  the guest also learns each host's partial score per row (one linear projection of that
  host's features per row, with weights unknown to the guest).

Every ciphertext is randomised with the obfuscator scheme the guest names at set-up
(``obfuscator_scheme``, as in training: DJN short exponents from a fixed-base table by
default, see :data:`~rengo.crypto.LocalObfuscatorScheme`); each party draws its own base.

Messages sit in the ``"hlr-predict"`` scope of each role's channel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import get_args

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.core.roles import COORDINATOR
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey
from rengo.crypto.masking import decrypt_masked, mask_encrypted, unmask
from rengo.crypto.obfuscators import (
    DEFAULT_LOCAL_OBFUSCATOR_SCHEME,
    LOCAL_OBFUSCATOR_SCHEMES,
    LocalObfuscatorScheme,
    ObfuscatorPool,
)
from rengo.crypto.randomness import random_source
from rengo.transport.channel import Channel
from rengo.vfl.hetero_lr.config import PredictMode
from rengo.vfl.hetero_lr.math import row_scores, sigmoid
from rengo.vfl.hetero_lr.missing import scoring_matrix
from rengo.vfl.hetero_lr.roles import GuestModel, HostModel

SCOPE = "hlr-predict"  # every key below sits in this scope of the role's channel
PREDICT_SETUP = "setup"  # guest -> hosts, coordinator: mode, row count, obfuscator scheme
PREDICT_KEY = "public-key"  # coordinator -> every party
PARTIAL = "partial"  # host -> guest: u_k or Enc(u_k)
MASKED = "masked"  # guest -> coordinator: Enc(sum u_k + r)
UNMASKED = "unmasked"  # coordinator -> guest: sum u_k + r mod n
PRECISION_BITS = 32


def hetero_lr_predict_coordinator(
    channel: Channel,
    parties: Sequence[str],
    guest: str,
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey] | None,
) -> int:
    """Decrypt the guest's masked sum of host scores (encrypted mode); returns values seen.

    Only encrypted mode needs a key pair: with two or more hosts the guest then learns the
    sum of their partial scores, never one host's (with a single host the sum is its
    partial score, which the prediction reveals anyway); the coordinator decrypts only
    masked values. Any key pair of the coordinator's serves, not only training's: a
    scoring-only run makes a fresh one, or none when the guest scores in plain mode.

    Parameters
    ----------
    channel
        The coordinator's channel.
    parties
        Every party, label party first.
    guest
        The label party.
    keypair
        The coordinator's key pair (``None`` in plain mode).

    Returns
    -------
    int
        How many masked values it decrypted (0 in plain mode).

    Raises
    ------
    ProtocolError
        If the guest asks for encrypted scoring from a coordinator without a key pair, or
        sends values under another key.
    """
    scope = channel.scope(SCOPE)
    setup = scope.recv(guest, PREDICT_SETUP)
    if setup["mode"] != "encrypted":
        return 0
    if keypair is None:
        raise ProtocolError(
            f"{guest} asks for encrypted scoring, but the coordinator holds no key pair "
            "(its plan scores in plain mode)"
        )
    public, private = keypair
    for party in parties:
        scope.send(party, PREDICT_KEY, public)
    masked = scope.recv(guest, MASKED)
    if not isinstance(masked, EncryptedArray) or masked.public_key != public:
        raise ProtocolError("masked scores are not under the coordinator's key")
    scope.send(guest, UNMASKED, decrypt_masked(masked, private))
    return masked.size


def hetero_lr_predict_host(
    channel: Channel,
    features: np.ndarray,
    model: HostModel,
    guest: str,
    *,
    coordinator: str = COORDINATOR,
) -> None:
    """Send this host's partial scores for the aligned rows, encrypted or in the clear.

    Raises
    ------
    DataError
        If its row count differs from the guest's.
    ProtocolError
        If the coordinator sends no public key or the guest names an unknown obfuscator
        scheme.
    """
    x = scoring_matrix(features, len(model.weights), model.fill, channel.name)
    scope = channel.scope(SCOPE)
    setup = scope.recv(guest, PREDICT_SETUP)
    if int(setup["rows"]) != len(x):
        raise DataError(f"{channel.name} holds {len(x)} rows to score, guest {setup['rows']}")
    partial = row_scores(x, model.weights)
    if setup["mode"] == "plain":
        scope.send(guest, PARTIAL, partial)
        return
    scheme = setup.get("obfuscator_scheme", "full")  # a guest that names none: Paillier's r^n
    if scheme not in LOCAL_OBFUSCATOR_SCHEMES:
        raise ProtocolError(
            f"{guest} names obfuscator scheme {scheme!r}; "
            f"expected one of {LOCAL_OBFUSCATOR_SCHEMES}"
        )
    public = scope.recv(coordinator, PREDICT_KEY)
    if not isinstance(public, PaillierPublicKey):
        raise ProtocolError("the coordinator sent no Paillier public key")
    pool = ObfuscatorPool.for_encryptor(public, scheme, expected_count=len(x))
    scope.send(
        guest,
        PARTIAL,
        encrypt_array(
            partial, public, precision_bits=PRECISION_BITS, obfuscators=pool.take(len(x))
        ),
    )


def hetero_lr_predict_guest(
    channel: Channel,
    features: np.ndarray,
    model: GuestModel,
    hosts: Sequence[str],
    *,
    mode: PredictMode = "encrypted",
    coordinator: str = COORDINATOR,
    inverse_link: Callable[[np.ndarray], np.ndarray] = sigmoid,
    obfuscator_scheme: LocalObfuscatorScheme = DEFAULT_LOCAL_OBFUSCATOR_SCHEME,
) -> np.ndarray:
    """Gather every party's partial score of the aligned rows; return ``P(y = 1)``
    (or, with another ``inverse_link``, that model's prediction: the identity for linear
    regression, ``exp`` for Poisson regression).

    Parameters
    ----------
    channel
        The guest's channel.
    features
        Its aligned rows to score.
    model
        Its trained model.
    hosts
        The feature parties.
    mode
        ``"encrypted"`` or ``"plain"`` (see the module docstring for what each reveals).
    coordinator
        The coordinator's role name.
    inverse_link
        Maps the linear predictor ``u`` to the prediction (default: the logistic function).
    obfuscator_scheme
        How every party randomises its ciphertexts in encrypted mode (``"djn"``,
        ``"djn-short"`` or ``"full"``; see :data:`~rengo.crypto.LocalObfuscatorScheme`);
        told to the hosts.

    Returns
    -------
    numpy.ndarray
        ``inverse_link(u)`` per aligned row: ``P(y = 1)`` for LR.

    Raises
    ------
    ConfigError
        For an unknown mode or obfuscator scheme, or no hosts.
    ProtocolError
        If a host or the coordinator sends something malformed.
    """
    if mode not in get_args(PredictMode):
        raise ConfigError(f"mode must be 'encrypted' or 'plain', got {mode!r}")
    if not hosts:
        raise ConfigError("hetero LR scoring needs at least one host (feature party)")
    if obfuscator_scheme not in LOCAL_OBFUSCATOR_SCHEMES:
        raise ConfigError(
            f"obfuscator_scheme must be one of {LOCAL_OBFUSCATOR_SCHEMES}, "
            f"got {obfuscator_scheme!r}"
        )
    x = scoring_matrix(features, len(model.weights), model.fill, channel.name)
    scope = channel.scope(SCOPE)
    setup = {"mode": mode, "rows": len(x), "obfuscator_scheme": obfuscator_scheme}
    for role in [*hosts, coordinator]:
        scope.send(role, PREDICT_SETUP, setup)
    score = row_scores(x, model.weights) + model.intercept
    if mode == "plain":
        for host in hosts:
            partial = scope.recv(host, PARTIAL)
            if not isinstance(partial, np.ndarray) or partial.shape != (len(x),):
                raise ProtocolError(f"{host} sent partial scores of the wrong shape")
            score = score + partial
        return inverse_link(score)
    public = scope.recv(coordinator, PREDICT_KEY)
    partials = [scope.recv(host, PARTIAL) for host in hosts]
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
    pool = ObfuscatorPool.for_encryptor(public, obfuscator_scheme, expected_count=len(x))
    masked, mask = mask_encrypted(total, random_source(None), pool)
    scope.send(coordinator, MASKED, masked)
    return inverse_link(score + unmask(scope.recv(coordinator, UNMASKED), mask, public))
