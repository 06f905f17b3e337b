"""Coordinated hetero logistic regression: the coordinator, guest and host role functions.

The protocol of Hardy et al. (arXiv:1711.10677, 2017) as FATE runs it ("coordinated LR"),
with one change that makes it stronger: the coordinator holds the Paillier private key but
only ever decrypts values masked with a one-time pad (see :mod:`rengo.crypto.masking`).
Labels are y in {0, 1}; the residual is ``d = u/4 + 0.5 - y`` (see
:mod:`rengo.vfl.hetero_lr.math`). Per mini-batch B:

1. every host k: ``u_k = X_k[B] w_k``; host -> guest: ``Enc(u_k)`` (and, for the loss,
   ``Enc(sum u_k^2 / 8)``; host l also gets ``Enc(u_k)`` from each earlier host k and sends
   the guest ``Enc(sum u_k u_l / 4)``);
2. guest: ``Enc(4d) = sum_k Enc(u_k) + (X_g[B] w_g + 2 - 4y)``, re-randomised; guest -> hosts;
3. every party: ``Enc(g_k) = Enc(d)^T X_k[B]``, masked ``Enc(g_k + r_k)`` -> coordinator
   (the guest adds its masked encrypted Taylor loss of the batch);
4. coordinator: decrypts ``g_k + r_k mod n`` (uniform noise to it) and returns it;
5. every party removes r_k, divides by |B|, adds ``l2 * w_k`` and takes an SGD/Adam step.

After each epoch the guest decides (loss change below ``tol``) whether to go on and tells
every role. What each role sees: hosts see ciphertexts only; the guest sees ciphertexts, its
own unmasked gradient and the batch losses; the coordinator sees uniform residues. Hosts'
plaintext weights never leave them; every party learns the agreed batch order. Every
ciphertext sent is freshly randomised (a new encryption, re-randomised or masked).

The guest and hosts take the loss as a parameter (``objective``, see
:mod:`rengo.vfl.hetero_lr.objective`): with :data:`~rengo.vfl.hetero_lr.objective.SQUARED`
the same messages train hetero linear regression, ``Enc(d) = sum_k Enc(u_k) + u_guest - y``
exactly and the loss ``(u - y)^2 / 2``; hetero Poisson regression
(:mod:`rengo.vfl.hetero_poisson`) shares the coordinator and the helpers below.

Messages sit in the ``"hlr"`` scope of each role's channel, per epoch and batch:
``hlr/epoch=3/batch=0/u`` is host -> guest ``Enc(u_k)`` of batch 0 of epoch 3.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.core.roles import COORDINATOR
from rengo.crypto.dealing import batch_obfuscators, deal_obfuscators
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair
from rengo.crypto.masking import decrypt_masked, mask_encrypted, unmask
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.randomness import random_source
from rengo.transport.channel import Channel
from rengo.vfl.common import batch_order
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.math import init_optimizer, learning_rate, optimizer_step
from rengo.vfl.hetero_lr.objective import LOGISTIC_TAYLOR, QuadraticObjective, check_labels
from rengo.vfl.progress import ProgressFn, TrainingReporter, batches_per_epoch

SCOPE = "hlr"  # every key below sits in this scope of the role's channel
PUBLIC_KEY = "public-key"  # coordinator -> every party
SETUP = "setup"  # guest -> hosts, coordinator: config, rows, batch seed, hosts
CONTINUE = "continue"  # (per epoch) guest -> hosts, coordinator: go on?
U = "u"  # (per batch) host -> guest: Enc(u_k) and the loss terms
PEER_U = "peer-u"  # (per batch) host -> later hosts: Enc(u_k) for the loss's cross terms
D = "d"  # (per batch) guest -> hosts: Enc(d), re-randomised
MASKED = "masked"  # (per batch) every party -> coordinator: Enc(g + r)
UNMASKED = "unmasked"  # (per batch) coordinator -> every party: g + r mod n


@dataclass(frozen=True)
class HostModel:
    """What a host keeps after training: its own weights (never sent anywhere)."""

    weights: np.ndarray
    epochs_run: int


@dataclass(frozen=True)
class GuestModel:
    """The guest's weights and intercept, and the Taylor loss of every epoch it ran."""

    weights: np.ndarray
    intercept: float
    losses: list[float] = field(default_factory=list)
    epochs_run: int = 0
    converged: bool = False


@dataclass(frozen=True)
class CoordinatorReport:
    """What the coordinator did: how many masked values it decrypted, over how many epochs."""

    decrypted_values: int
    epochs_run: int


def expect_encrypted(
    value: Any, key: PaillierPublicKey, shape: tuple[int, ...], exponent: int, what: str
) -> EncryptedArray:
    """``value`` if it is an encrypted array of the right key, shape and scale, else raise.

    Raises
    ------
    ProtocolError
        Naming ``what`` and how it differs.
    """
    if not isinstance(value, EncryptedArray):
        raise ProtocolError(f"{what}: expected an encrypted array, got {type(value).__name__}")
    if value.public_key != key:
        raise ProtocolError(f"{what}: ciphertexts under a different public key")
    if value.shape != shape or value.exponent != exponent:
        raise ProtocolError(
            f"{what}: expected shape {shape} at exponent {exponent}, "
            f"got {value.shape} at {value.exponent}"
        )
    return value


def feature_matrix(features: np.ndarray, who: str) -> np.ndarray:
    """``features`` as a finite 2-D float array.

    Raises
    ------
    DataError
        Naming the party, if they are not.
    """
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or not np.isfinite(matrix).all():
        raise DataError(f"{who}: features must be a finite 2-D array, got shape {matrix.shape}")
    return matrix


def _loss_exponent(config: LinearModelConfig) -> int:
    """Fixed-point exponent of encrypted loss terms: products of two predictors times 1/8."""
    return 2 * config.residual_precision_bits + 3


def hetero_lr_coordinator(
    channel: Channel,
    parties: Sequence[str],
    guest: str,
    *,
    key_bits: int = 1024,
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey] | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    dealt: Callable[[str, int], int] | None = None,
) -> CoordinatorReport:
    """The arbiter: makes the key pair, hands out the public key, decrypts masked values.

    Parameters
    ----------
    channel
        The coordinator's channel.
    parties
        Every party, the label party (``guest``) first, then the hosts.
    guest
        The label party.
    key_bits
        Size of the key pair made when none is given.
    keypair
        The key pair to serve with (the caller keeps it for scoring).
    workers
        Threads for decryption and dealing (default: every core).
    progress
        Told after every batch served (see :mod:`rengo.vfl.progress`).
    dealt
        ``dealt(party, rows)``: how many obfuscators ``party`` asks for in a batch of
        ``rows`` rows when the coordinator deals them (default: hetero LR's and hetero
        linear regression's, ``rows`` for the guest and ``rows + 1`` for a host).

    Returns
    -------
    CoordinatorReport
        How many masked values it decrypted, over how many epochs.
    """
    public, private = keypair if keypair is not None else generate_paillier_keypair(key_bits)
    hlr = channel.scope(SCOPE)
    for party in parties:
        hlr.send(party, PUBLIC_KEY, public)
    setup = hlr.recv(guest, SETUP)
    config = LinearModelConfig.from_wire(setup["config"])
    rows = int(setup["rows"])
    if dealt is None:
        dealt = lambda party, size: size if party == guest else size + 1  # noqa: E731
    sizes = [min(config.batch_size, rows - s) for s in range(0, rows, config.batch_size)]
    dealing = config.obfuscator_source == "coordinator"
    dealer = ObfuscatorPool(public, private_key=private, workers=workers)
    decrypted, epochs_run = 0, 0
    reporter = TrainingReporter(progress, channel.name, config.epochs, len(sizes))
    with ThreadPoolExecutor(1) as background:
        ahead: Future[None] | None = None
        for epoch in range(config.epochs):
            this_epoch = hlr.scope(epoch=epoch)
            for batch, size in enumerate(sizes):
                step = this_epoch.scope(batch=batch)
                if dealing:
                    if ahead is not None:
                        ahead.result()
                    for party in parties:
                        deal_obfuscators(step, party, dealer, dealt(party, size))
                    if epoch + 1 < config.epochs or batch + 1 < len(sizes):
                        # make the next batch's obfuscators while the parties compute
                        upcoming = sizes[(batch + 1) % len(sizes)]
                        needed = sum(dealt(party, upcoming) for party in parties)
                        ahead = background.submit(dealer.fill, needed)
                decrypted += _serve_decryptions(step, parties, private, workers)
                reporter.batch(epoch, batch)
            epochs_run = epoch + 1
            go_on = this_epoch.recv(guest, CONTINUE)
            reporter.epoch_end(epoch, None, stop=not go_on or epochs_run == config.epochs)
            if not go_on:
                break
    return CoordinatorReport(decrypted, epochs_run)


def _serve_decryptions(
    step: Channel, parties: Sequence[str], private: PaillierPrivateKey, workers: int | None
) -> int:
    """Decrypt every party's masked values of one batch and send each its residues back."""
    decrypted = 0
    for party in parties:
        masked = step.recv(party, MASKED)
        if not isinstance(masked, dict):
            raise ProtocolError(f"{party}: masked values must come as a mapping")
        reply = {}
        for name, values in masked.items():
            if not isinstance(values, EncryptedArray) or values.public_key != private.public_key:
                raise ProtocolError(f"{party}: {name!r} is not under this key")
            reply[name] = decrypt_masked(values, private, workers)
            decrypted += values.size
        step.send(party, UNMASKED, reply)
    return decrypted


def masked_round_trip(
    step: Channel, coordinator: str, values: dict[str, EncryptedArray], pool: ObfuscatorPool
) -> dict[str, np.ndarray]:
    """Mask ``values``, have the coordinator decrypt them, and return them unmasked.

    Raises
    ------
    ProtocolError
        If the coordinator answers for other values than were sent.
    """
    rng = random_source(None)
    masked, masks = {}, {}
    for name, encrypted in values.items():
        masked[name], masks[name] = mask_encrypted(encrypted, rng, pool)
    step.send(coordinator, MASKED, masked)
    reply = step.recv(coordinator, UNMASKED)
    if not isinstance(reply, dict) or set(reply) != set(values):
        raise ProtocolError(f"coordinator answered {sorted(reply)} for {sorted(values)}")
    key = next(iter(values.values())).public_key
    return {name: unmask(reply[name], masks[name], key) for name in values}


def penalty_mask(columns: int, fit_intercept: bool) -> np.ndarray:
    """1 for every coefficient L2 applies to, 0 for the intercept column (the last one)."""
    mask = np.ones(columns)
    if fit_intercept:
        mask[-1] = 0.0
    return mask


def loss_converged(losses: Sequence[float], tol: float) -> bool:
    """Early stopping: the last epoch's loss moved less than ``tol`` (0 disables)."""
    return tol > 0 and len(losses) > 1 and abs(losses[-2] - losses[-1]) < tol


def guest_model(
    weights: np.ndarray,
    config: LinearModelConfig,
    losses: list[float],
    epochs_run: int,
    converged: bool,
) -> GuestModel:
    """Split the trained weights into coefficients and intercept."""
    intercept = float(weights[-1]) if config.fit_intercept else 0.0
    coefs = weights[:-1] if config.fit_intercept else weights
    return GuestModel(coefs.copy(), intercept, losses, epochs_run, converged)


def gradient_step(
    weights: np.ndarray,
    gradient_sum: np.ndarray,
    rows: int,
    state: Any,
    config: LinearModelConfig,
    epoch: int,
    penalised: np.ndarray,
) -> tuple[np.ndarray, Any]:
    """Mean gradient plus L2 on the penalised coordinates, then one optimizer step at the
    epoch's learning rate (shared by every role and by local training)."""
    gradient = gradient_sum / rows + config.l2 * weights * penalised
    lr = learning_rate(
        config.learning_rate,
        config.lr_schedule,
        epoch,
        decay=config.lr_decay,
        step_epochs=config.lr_step_epochs,
    )
    return optimizer_step(weights, gradient, state, lr, config.optimizer)


def hetero_lr_guest(
    channel: Channel,
    features: np.ndarray,
    labels: np.ndarray,
    hosts: Sequence[str],
    config: LinearModelConfig,
    *,
    coordinator: str = COORDINATOR,
    seed: int | None = None,
    progress: ProgressFn | None = None,
    objective: QuadraticObjective = LOGISTIC_TAYLOR,
) -> GuestModel:
    """The label party: builds the encrypted residual and drives epochs and early stopping.

    Parameters
    ----------
    channel
        The guest's channel.
    features, labels
        The aligned rows (row k of every party is the same customer); labels are 0/1.
    hosts
        The feature parties, in the order every role uses.
    config
        The training settings, sent to every other role at set-up.
    coordinator
        The coordinator's role name.
    seed
        Fixes the batch order (else drawn from the OS CSPRNG).
    progress
        Told after every batch, with the epoch's running Taylor loss (see
        :mod:`rengo.vfl.progress`).
    objective
        The loss (default hetero LR's Taylor loss; :data:`~rengo.vfl.hetero_lr.objective.
        SQUARED` trains hetero linear regression with the same messages).

    Returns
    -------
    GuestModel
        The guest's coefficients, intercept and per-epoch losses.

    Raises
    ------
    DataError
        If the labels are not of the objective's kind (0/1 for LR, finite numbers for
        linear regression) or do not match the feature rows.
    ProtocolError
        If another role sends something malformed.
    """
    if not hosts:
        raise ConfigError("hetero LR needs at least one host (feature party)")
    x = feature_matrix(features, "guest")
    y = check_labels(labels, objective.labels, len(x), channel.name)
    if config.fit_intercept:
        x = np.hstack([x, np.ones((len(x), 1))])
    hlr = channel.scope(SCOPE)
    public = hlr.recv(coordinator, PUBLIC_KEY)
    if not isinstance(public, PaillierPublicKey):
        raise ProtocolError("the coordinator sent no Paillier public key")
    batch_seed = secrets.randbits(63) if seed is None else int(seed)
    setup = {"config": config.to_wire(), "rows": len(x), "seed": batch_seed, "hosts": list(hosts)}
    for role in [*hosts, coordinator]:
        hlr.send(role, SETUP, setup)

    p_bits = config.residual_precision_bits
    loss_exp = _loss_exponent(config)
    pool = ObfuscatorPool.for_encryptor(
        public, config.obfuscator_scheme, processes=config.obfuscator_processes
    )
    weights = np.zeros(x.shape[1])
    penalised = penalty_mask(x.shape[1], config.fit_intercept)
    state = init_optimizer(x.shape[1])
    losses: list[float] = []
    converged = False
    epochs_run = 0
    reporter = TrainingReporter(
        progress, channel.name, config.epochs, batches_per_epoch(len(x), config.batch_size)
    )
    for epoch in range(config.epochs):
        this_epoch = hlr.scope(epoch=epoch)
        loss_sum, seen = 0.0, 0
        for batch, rows in enumerate(batch_order(batch_seed, epoch, len(x), config.batch_size)):
            step = this_epoch.scope(batch=batch)
            xb, yb = x[rows], y[rows]
            u_guest = xb @ weights
            received = [expect_mapping(step.recv(h, U), h) for h in hosts]
            enc_u = _sum_host_predictors(hosts, received, public, len(rows), p_bits)
            # LR: Enc(u + 4(0.5 - y)) at exponent P is Enc(d) at exponent P + 2,
            # d = u/4 + 0.5 - y; linear regression: Enc(u - y) = Enc(d) at exponent P
            scaled_d = enc_u + objective.offset(u_guest, yb)
            enc_d = EncryptedArray(public, scaled_d.ciphertexts, p_bits + objective.shift)
            fresh_d = enc_d.rerandomize(
                batch_obfuscators(config.obfuscator_source, step, coordinator, pool, len(rows))
            )
            for h in hosts:
                step.send(h, D, fresh_d)
            to_decrypt = {"gradient": enc_d.matmul(xb, config.feature_precision_bits)}
            if config.compute_loss:
                to_decrypt["loss"] = _guest_batch_loss(
                    enc_u, u_guest, yb, hosts, received, public, loss_exp, config, objective
                )
            plain = masked_round_trip(step, coordinator, to_decrypt, pool)
            if config.compute_loss:
                loss_sum += float(plain["loss"][0])
            weights, state = gradient_step(
                weights, plain["gradient"], len(rows), state, config, epoch, penalised
            )
            seen += len(rows)
            reporter.batch(
                epoch, batch, objective.constant + loss_sum / seen if config.compute_loss else None
            )
            if config.obfuscator_source == "local":  # precompute while others work
                pool.fill(min(config.batch_size, len(x)))
        epochs_run = epoch + 1
        go_on = True
        if config.compute_loss:
            losses.append(objective.constant + loss_sum / len(x))
            if loss_converged(losses, config.tol):
                converged, go_on = True, False
        go_on = go_on and epoch + 1 < config.epochs
        for role in [*hosts, coordinator]:
            this_epoch.send(role, CONTINUE, go_on)
        reporter.epoch_end(epoch, losses[-1] if losses else None, stop=not go_on)
        if not go_on:
            break
    return guest_model(weights, config, losses, epochs_run, converged)


def expect_mapping(value: Any, sender: str) -> dict[str, Any]:
    """``value`` if it is a mapping (a message of several parts), else raise.

    Raises
    ------
    ProtocolError
        Naming the sender.
    """
    if not isinstance(value, dict):
        raise ProtocolError(f"{sender} sent {type(value).__name__}, expected a mapping")
    return value


def _sum_host_predictors(
    hosts: Sequence[str],
    received: list[dict[str, Any]],
    public: PaillierPublicKey,
    rows: int,
    p_bits: int,
) -> EncryptedArray:
    """``Enc(sum_k u_k)`` from every host's checked ``Enc(u_k)``."""
    total: EncryptedArray | None = None
    for host, message in zip(hosts, received, strict=True):
        enc = expect_encrypted(message.get("u"), public, (rows,), p_bits, f"{host} u")
        total = enc if total is None else total + enc
    if total is None:
        raise ConfigError("hetero LR needs at least one host (feature party)")
    return total


def _guest_batch_loss(
    enc_u: EncryptedArray,
    u_guest: np.ndarray,
    yb: np.ndarray,
    hosts: Sequence[str],
    received: list[dict[str, Any]],
    public: PaillierPublicKey,
    loss_exp: int,
    config: LinearModelConfig,
    objective: QuadraticObjective,
) -> EncryptedArray:
    """``Enc(sum_i b(y_i) u_i + a u_i^2 [+ c(y_i)])`` for the batch, u = u_guest + sum_k u_k
    (LR: ``b = 0.5 - y``, ``a = 1/8``; see :mod:`rengo.vfl.hetero_lr.objective`).

    Expanding u^2: the guest adds its plaintext terms, ``sum_i U_i (b(y_i) + 2a u_guest_i)``
    by one encrypted dot product, and the hosts' ``a sum u_k^2`` and cross terms."""
    p_bits = config.residual_precision_bits
    weights_on_u = (objective.linear(yb) + 2 * objective.square * u_guest)[:, None]
    total = enc_u.matmul(weights_on_u, p_bits + 3)
    for index, (host, message) in enumerate(zip(hosts, received, strict=True)):
        total = total + expect_encrypted(
            message.get("square"), public, (1,), loss_exp, f"{host} square"
        )
        for earlier in hosts[:index]:
            cross = message.get("cross", {}).get(earlier)
            total = total + expect_encrypted(
                cross, public, (1,), loss_exp, f"{host} cross {earlier}"
            )
    plain = float(np.sum(objective.linear(yb) * u_guest + objective.square * u_guest * u_guest))
    if objective.plain is not None:
        plain += float(np.sum(objective.plain(yb)))
    return total + np.array([plain])


def join_as_host(
    hlr: Channel, rows: int, guest: str, coordinator: str
) -> tuple[PaillierPublicKey, dict[str, Any]]:
    """A host's set-up: the coordinator's public key and the guest's checked set-up message
    (config, row count, batch seed, hosts).

    Parameters
    ----------
    hlr
        The host's channel in the protocol's scope.
    rows
        How many aligned rows the host holds.
    guest, coordinator
        Their role names.

    Returns
    -------
    tuple
        The public key and the set-up message.

    Raises
    ------
    DataError
        If the host's row count differs from the guest's.
    ProtocolError
        Without a public key, or when the guest's host list does not name this host.
    """
    public = hlr.recv(coordinator, PUBLIC_KEY)
    if not isinstance(public, PaillierPublicKey):
        raise ProtocolError("the coordinator sent no Paillier public key")
    setup = expect_mapping(hlr.recv(guest, SETUP), guest)
    if int(setup["rows"]) != rows:
        raise DataError(f"{hlr.name} holds {rows} aligned rows, guest holds {setup['rows']}")
    hosts = [str(h) for h in setup["hosts"]]
    if hlr.name not in hosts:
        raise ProtocolError(f"the guest's host list {hosts} does not name {hlr.name!r}")
    return public, setup


def hetero_lr_host(
    channel: Channel,
    features: np.ndarray,
    guest: str,
    *,
    coordinator: str = COORDINATOR,
    progress: ProgressFn | None = None,
    objective: QuadraticObjective = LOGISTIC_TAYLOR,
) -> HostModel:
    """A feature party: sends encrypted partial predictors, updates its own weights.

    Parameters
    ----------
    channel
        The host's channel.
    features
        Its aligned rows (row k is the guest's row k).
    guest
        The label party.
    coordinator
        The coordinator's role name.
    progress
        Told after every batch (see :mod:`rengo.vfl.progress`).
    objective
        The guest's loss (the host needs its ``a`` and the residual's scale).

    Returns
    -------
    HostModel
        Its own weights, which never leave it.

    Raises
    ------
    DataError
        If its row count differs from the guest's.
    ProtocolError
        If another role sends something malformed.
    """
    x = feature_matrix(features, channel.name)
    hlr = channel.scope(SCOPE)
    public, setup = join_as_host(hlr, len(x), guest, coordinator)
    config = LinearModelConfig.from_wire(setup["config"])
    hosts = [str(h) for h in setup["hosts"]]
    p_bits = config.residual_precision_bits
    pool = ObfuscatorPool.for_encryptor(
        public, config.obfuscator_scheme, processes=config.obfuscator_processes
    )
    if config.obfuscator_source == "local":
        pool.fill(min(config.batch_size, len(x)) + 1)
    weights = np.zeros(x.shape[1])
    penalised = penalty_mask(x.shape[1], fit_intercept=False)  # hosts have no intercept
    state = init_optimizer(x.shape[1])
    epochs_run = 0
    reporter = TrainingReporter(
        progress, channel.name, config.epochs, batches_per_epoch(len(x), config.batch_size)
    )
    for epoch in range(config.epochs):
        this_epoch = hlr.scope(epoch=epoch)
        for batch, rows in enumerate(
            batch_order(int(setup["seed"]), epoch, len(x), config.batch_size)
        ):
            step = this_epoch.scope(batch=batch)
            xb = x[rows]
            u = xb @ weights
            obfuscators = batch_obfuscators(
                config.obfuscator_source, step, coordinator, pool, len(rows) + 1
            )
            enc_u = encrypt_array(u, public, precision_bits=p_bits, obfuscators=obfuscators[:-1])
            message: dict[str, Any] = {"u": enc_u}
            if config.compute_loss:
                square = np.array([objective.square * float(u @ u)])
                message["square"] = encrypt_array(
                    square,
                    public,
                    precision_bits=_loss_exponent(config),
                    obfuscators=obfuscators[-1:],
                )
                message["cross"] = _host_cross_terms(step, u, enc_u, hosts, config, pool, objective)
            step.send(guest, U, message)
            if config.obfuscator_source == "local":  # precompute while the guest works
                pool.fill(len(rows) + 1)
            enc_d = expect_encrypted(
                step.recv(guest, D), public, (len(rows),), p_bits + objective.shift, "d"
            )
            gradient = enc_d.matmul(xb, config.feature_precision_bits)
            plain = masked_round_trip(step, coordinator, {"gradient": gradient}, pool)
            weights, state = gradient_step(
                weights, plain["gradient"], len(rows), state, config, epoch, penalised
            )
            reporter.batch(epoch, batch)
        epochs_run = epoch + 1
        go_on = this_epoch.recv(guest, CONTINUE)
        reporter.epoch_end(epoch, None, stop=not go_on or epochs_run == config.epochs)
        if not go_on:
            break
    return HostModel(weights.copy(), epochs_run)


def _host_cross_terms(
    step: Channel,
    u: np.ndarray,
    enc_u: EncryptedArray,
    hosts: list[str],
    config: LinearModelConfig,
    pool: ObfuscatorPool,
    objective: QuadraticObjective,
) -> dict[str, EncryptedArray]:
    """With every earlier host k, ``Enc(2a sum u_k u)`` (LR: ``a = 1/8``) from the
    ``Enc(u_k)`` it sent us, re-randomised so the guest cannot test guesses of u; later
    hosts get our ``Enc(u)`` for theirs (the loss needs every cross term of u^2)."""
    public, p_bits = enc_u.public_key, config.residual_precision_bits
    place = hosts.index(step.name)
    for peer in hosts[place + 1 :]:
        step.send(peer, PEER_U, enc_u)
    cross = {}
    for peer in hosts[:place]:
        theirs = expect_encrypted(step.recv(peer, PEER_U), public, (len(u),), p_bits, f"{peer} u")
        product = theirs.matmul(2 * objective.square * u[:, None], p_bits + 3)
        cross[peer] = product.rerandomize(pool.take(1))
    return cross
