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

Scores travel in batches of at most ``batch_rows`` rows (the guest names it in the set-up;
:data:`PREDICT_BATCH_ROWS` by default), each batch in its own ``batch=i`` scope, so no
message, pool draw or decryption holds every row's ciphertext at once: a million rows at
2048 bits would be over 500 MB in one message. Plain mode's partial scores travel in the
same batches (8 bytes a row: 34M rows would pass the deployed 256 MiB message limit in one
message). A host encrypts its next batch while the
guest works on the last and sends it only once the guest has taken the one before
(``taken``), so at most two batches of a host wait at the guest. The predictions are the
same whatever the batch size (each row's fixed-point sum is exact mod ``n``).

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
from rengo.vfl.hetero_lr.one_vs_rest import class_matrix, normalised_probabilities
from rengo.vfl.hetero_lr.roles import GuestModel, HostModel

SCOPE = "hlr-predict"  # every key below sits in this scope of the role's channel
PREDICT_SETUP = "setup"  # guest -> hosts, coordinator: mode, row count, obfuscator scheme
PREDICT_KEY = "public-key"  # coordinator -> every party
PARTIAL = "partial"  # host -> guest: u_k or Enc(u_k)
MASKED = "masked"  # guest -> coordinator: Enc(sum u_k + r)
UNMASKED = "unmasked"  # coordinator -> guest: sum u_k + r mod n
TAKEN = "taken"  # guest -> host: its partial scores of this batch arrived; send the next
PRECISION_BITS = 32
PREDICT_BATCH_ROWS = 16_384
"""Rows per scoring message by default: 8 MiB of 2048-bit ciphertexts, 128 KiB of plain
partial scores."""


def row_batches(rows: int, batch_rows: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` of each batch of ``rows`` rows, ``batch_rows`` at most."""
    return [(start, min(start + batch_rows, rows)) for start in range(0, rows, batch_rows)]


def _batch_rows(setup: dict[str, object], guest: str) -> int:
    """The batch size a guest's set-up names (every row at once from a guest that names
    none).

    Raises
    ------
    ProtocolError
        For a batch size that is not a positive whole number.
    """
    size = setup.get("batch_rows", max(int(str(setup["rows"])), 1))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ProtocolError(f"{guest} names batch_rows {size!r}; expected a whole number >= 1")
    return size


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
    decrypted = 0
    for batch, (start, stop) in enumerate(
        row_batches(int(setup["rows"]), _batch_rows(setup, guest))
    ):
        step = scope.scope(batch=batch)
        masked = step.recv(guest, MASKED)
        if (
            not isinstance(masked, EncryptedArray)
            or masked.public_key != public
            or masked.shape != (stop - start,)
        ):
            raise ProtocolError(
                f"masked scores of batch {batch} are not {stop - start} values "
                "under the coordinator's key"
            )
        step.send(guest, UNMASKED, decrypt_masked(masked, private))
        decrypted += masked.size
    return decrypted


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
    x = scoring_matrix(features, len(model.weights) // model.classes, model.fill, channel.name)
    scope = channel.scope(SCOPE)
    setup = scope.recv(guest, PREDICT_SETUP)
    if int(setup["rows"]) != len(x) * model.classes:  # one-vs-rest: K scores a row
        raise DataError(
            f"{channel.name} holds {len(x)} rows to score ({len(x) * model.classes} class "
            f"scores), guest {setup['rows']}"
        )
    partial = class_scores(x, model.weights, model.classes)
    if setup["mode"] == "plain" and "batch_rows" not in setup:
        scope.send(guest, PARTIAL, partial)  # a guest that takes every row at once
        return
    if setup["mode"] == "plain":
        _send_batches(scope, guest, partial, _batch_rows(setup, guest))
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
    _send_batches(
        scope,
        guest,
        partial,
        _batch_rows(setup, guest),
        lambda part: encrypt_array(
            part, public, precision_bits=PRECISION_BITS, obfuscators=pool.take(len(part))
        ),
    )


def _send_batches(
    scope: Channel,
    guest: str,
    partial: np.ndarray,
    batch_rows: int,
    prepared: Callable[[np.ndarray], object] = np.copy,
) -> None:
    """Send a host's ``partial`` scores to ``guest`` a batch of rows at a time, each
    ``prepared`` (encrypted, or copied as it is in plain mode) while the guest takes the
    batch before, and sent only once it has (``taken``); the last ``taken`` is read too,
    so that no message is left waiting."""
    batches = row_batches(len(partial), batch_rows)
    for batch, (start, stop) in enumerate(batches):
        value = prepared(partial[start:stop])
        if batch:  # prepared while the guest took the last batch; sent once it has
            scope.scope(batch=batch - 1).recv(guest, TAKEN)
        scope.scope(batch=batch).send(guest, PARTIAL, value)
    if batches:  # every message the guest sends is read: none is left waiting
        scope.scope(batch=len(batches) - 1).recv(guest, TAKEN)


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
    batch_rows: int = PREDICT_BATCH_ROWS,
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
    batch_rows
        Rows per message (each host's partial scores, plain or encrypted, the masked sum
        and its decryption), told to the hosts and the coordinator.

    Returns
    -------
    numpy.ndarray
        ``inverse_link(u)`` per aligned row: ``P(y = 1)`` for LR; a one-vs-rest model
        (``model.classes`` K > 1) gives a row of K class probabilities, normalised across
        classes (:mod:`rengo.vfl.hetero_lr.one_vs_rest`).

    Raises
    ------
    ConfigError
        For an unknown mode or obfuscator scheme, no hosts, or a ``batch_rows`` below 1.
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
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ConfigError(f"batch_rows must be a whole number >= 1, got {batch_rows!r}")
    classes = model.classes
    x = scoring_matrix(features, len(model.weights) // classes, model.fill, channel.name)
    scope = channel.scope(SCOPE)
    setup = {
        "mode": mode,
        "rows": len(x) * classes,  # one-vs-rest: K class scores a row, in row order
        "obfuscator_scheme": obfuscator_scheme,
        "batch_rows": batch_rows,
    }
    for role in [*hosts, coordinator]:
        scope.send(role, PREDICT_SETUP, setup)
    score = class_scores(x, model.weights, classes) + _intercepts(model, len(x))
    if mode == "plain":
        for batch, (start, stop) in enumerate(row_batches(len(score), batch_rows)):
            _add_plain(scope.scope(batch=batch), hosts, score[start:stop])
        return _predictions(inverse_link(score), classes)
    public = scope.recv(coordinator, PREDICT_KEY)
    pool = ObfuscatorPool.for_encryptor(public, obfuscator_scheme, expected_count=len(score))
    masks = random_source(None)
    hosts_sum = np.empty(len(score), dtype=np.float64)
    for batch, (start, stop) in enumerate(row_batches(len(score), batch_rows)):
        step = scope.scope(batch=batch)
        total = _encrypted_sum(step, hosts, public, stop - start)
        masked, mask = mask_encrypted(total, masks, pool)
        step.send(coordinator, MASKED, masked)
        hosts_sum[start:stop] = unmask(step.recv(coordinator, UNMASKED), mask, public)
    return _predictions(inverse_link(score + hosts_sum), classes)


def class_scores(x: np.ndarray, weights: np.ndarray, classes: int) -> np.ndarray:
    """Each row's partial score ``x . w`` (:func:`row_scores`), or one-vs-rest (``weights``
    of K per column, ``w[f K + k]``) its K class scores, row by row (``i K + k``)."""
    if classes == 1:
        return row_scores(x, weights)
    matrix = class_matrix(weights, classes)
    per_class = [row_scores(x, np.ascontiguousarray(matrix[:, k])) for k in range(classes)]
    scores: np.ndarray = np.column_stack(per_class).ravel()
    return scores


def _intercepts(model: GuestModel, rows: int) -> np.ndarray | float:
    """The intercept added to every class score of ``rows`` rows (one-vs-rest: class k's
    at every ``i K + k``)."""
    if model.intercepts is None:
        return model.intercept
    return np.tile(model.intercepts, rows)


def _predictions(linked: np.ndarray, classes: int) -> np.ndarray:
    """The predictions: ``linked`` per row, or one-vs-rest the class probabilities of each
    row normalised across classes (:func:`normalised_probabilities`)."""
    if classes == 1:
        return linked
    return normalised_probabilities(linked.reshape(-1, classes))


def _add_plain(step: Channel, hosts: Sequence[str], score: np.ndarray) -> None:
    """Add to ``score`` (one batch's rows) each host's partial scores, sent in the clear
    (plain mode), in the hosts' order (as one message of every row added them); each host
    is told it may send its next batch once its partial scores are in.

    Raises
    ------
    ProtocolError
        If a host sends something other than one number per row of the batch.
    """
    for host in hosts:
        partial = step.recv(host, PARTIAL)
        if not isinstance(partial, np.ndarray) or partial.shape != score.shape:
            raise ProtocolError(f"{host} sent partial scores of the wrong shape")
        step.send(host, TAKEN, True)
        score += partial


def _encrypted_sum(
    step: Channel, hosts: Sequence[str], public: PaillierPublicKey, rows: int
) -> EncryptedArray:
    """The sum of the hosts' encrypted partial scores of one batch of ``rows`` rows; each
    host is told it may send its next batch once its partial scores are in.

    Raises
    ------
    ProtocolError
        If a host sends something other than ``rows`` ciphertexts under ``public``.
    """
    total: EncryptedArray | None = None
    for host in hosts:
        partial = step.recv(host, PARTIAL)
        if (
            not isinstance(partial, EncryptedArray)
            or partial.public_key != public
            or partial.shape != (rows,)
            or partial.exponent != PRECISION_BITS
        ):
            raise ProtocolError(f"{host} sent malformed encrypted partial scores")
        step.send(host, TAKEN, True)
        total = partial if total is None else total + partial
    assert total is not None  # hosts is never empty
    return total
