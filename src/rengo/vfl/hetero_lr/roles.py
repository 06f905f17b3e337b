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
4. coordinator: decrypts ``g_k + r_k mod n`` (uniform noise to it) and returns it - only
   that (and the guest's loss), of the length of the party's first batch, so no party
   can have it decrypt the residuals ``Enc(d)`` it was sent;
5. every party removes r_k, divides by |B|, adds ``l2 * w_k`` and takes an SGD/Adam step.

After each epoch the guest decides (loss change below ``tol``) whether to go on, and at which
learning-rate factor (the adaptive schedule), and tells every role. What each role sees:
hosts see ciphertexts only, and each epoch whether training goes on and the rate factor
(so the epochs at which the loss stopped improving, no loss value); the guest sees
ciphertexts, its own unmasked gradient and the batch losses; the coordinator sees uniform
residues and the same per-epoch verdicts. Hosts'
plaintext weights never leave them; every party learns the agreed batch order. Every
ciphertext sent is freshly randomised (a new encryption, re-randomised or masked).

Each host also learns its own gradient of every batch, ``X_k[B]^T d``: one sum over the
batch's rows per column, so F equations (F: its columns) in the batch's |B| residuals. With
``F >= |B|`` it could solve them for ``d``, and ``d`` carries the labels (``0.5 - y`` in
the first epoch). So every epoch is cut into whole batches
(:func:`~rengo.vfl.common.batch_order` with ``whole=True``: the remainder joins the last
batch, none is smaller than ``batch_size``; Newton-CG's one batch is every row), and a host
with at least as many columns as the smallest batch has rows is refused with a
:class:`~rengo.core.errors.ConfigError` naming it, its columns, the batch and the fix (a
larger ``batch_size``) before anything is decrypted: by the host itself at set-up, and by
the coordinator when the host's first gradient arrives
(:mod:`rengo.vfl.hetero_lr.exposure`). With ``F < |B|`` the gradient leaves ``|B| - F``
dimensions of ``d`` open; where that is only a few, the first epoch's ``0.5 - y`` (two
values a row) might be found among ``2^(|B| - F)`` candidates, so keep ``batch_size`` well
above the widest host's columns.

The guest and hosts take the loss as a parameter (``objective``, see
:mod:`rengo.vfl.hetero_lr.objective`): with :data:`~rengo.vfl.hetero_lr.objective.SQUARED`
the same messages train hetero linear regression, ``Enc(d) = sum_k Enc(u_k) + u_guest - y``
exactly and the loss ``(u - y)^2 / 2``; hetero Poisson regression
(:mod:`rengo.vfl.hetero_poisson`) shares the coordinator and the helpers below. Every
model runs the same epochs (:func:`guest_epochs`, :func:`host_epochs`: the batch order,
steps 2 to 5 and each epoch's verdict); what differs is passed in as :class:`GuestSteps`
and :class:`HostSteps` (how a host's partial predictor reaches the guest, how the guest
forms ``Enc(d)`` and the loss, the weight step).

Messages sit in the ``"hlr"`` scope of each role's channel, per epoch and batch:
``hlr/epoch=3/batch=0/u`` is host -> guest ``Enc(u_k)`` of batch 0 of epoch 3.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
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
from rengo.vfl.checkpoints import EpochCheckpoints
from rengo.vfl.common import batch_order, batch_sizes
from rengo.vfl.hetero_lr.class_weighting import (
    ROW_WEIGHTS,
    WEIGHT_BITS,
    GuestWeighting,
    encrypted_row_weights,
    guest_weighting,
    host_weighted_partial,
    host_weighted_square,
    weighted,
    weighted_residual,
)
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.exposure import require_no_residual_exposure
from rengo.vfl.hetero_lr.math import (
    adaptive_lr_scale,
    base_rate_shift,
    column_scales,
    learning_rate,
    optimizer_step,
)
from rengo.vfl.hetero_lr.missing import checked_matrix, training_matrix
from rengo.vfl.hetero_lr.newton import (
    CGState,
    Resolved,
    conjugate_coefficient,
    epoch_batch_size,
    local_hessian,
    preconditioner,
    resolve_optimizer,
    search_direction,
    step_length,
)
from rengo.vfl.hetero_lr.objective import (
    LOGISTIC_TAYLOR,
    LabelKind,
    QuadraticObjective,
    check_labels,
)
from rengo.vfl.hetero_lr.one_vs_rest import (
    MAX_CLASSES,
    batch_columns,
    class_columns,
    class_count,
    class_rows,
    class_targets,
    require_newton_expansion_fits,
)
from rengo.vfl.hetero_lr.resume import (
    LinearTraining,
    check_seed,
    save_coordinator,
    save_epoch,
    start_coordinator,
    start_training,
)
from rengo.vfl.progress import ProgressFn, TrainingReporter

SCOPE = "hlr"  # every key below sits in this scope of the role's channel
PUBLIC_KEY = "public-key"  # coordinator -> every party
SETUP = "setup"  # guest -> hosts, coordinator: config, rows, batch seed, hosts
CONTINUE = "continue"  # (per epoch) guest -> hosts, coordinator: go on, rate factor
U = "u"  # (per batch) host -> guest: Enc(u_k) and the loss terms
PEER_U = "peer-u"  # (per batch) host -> later hosts: Enc(u_k) for the loss's cross terms
D = "d"  # (per batch) guest -> hosts: Enc(d), re-randomised
MASKED = "masked"  # (per batch) every party -> coordinator: Enc(g + r)
UNMASKED = "unmasked"  # (per batch) coordinator -> every party: g + r mod n
NEWTON_RZ = "newton=rz"  # (Newton-CG, per epoch) sub-scope: host -> guest Enc(r_k^T z_k)
NEWTON_CURVATURE = "newton=curvature"  # sub-scope: Enc(X_k p_k), squares, slopes
RZ = "rz"  # host -> guest: Enc(g_k^T H_kk^-1 g_k)
BETA = "beta"  # guest -> hosts: the CG coefficient (a scalar over every party)
ALPHA = "alpha"  # guest -> hosts: the step length (a scalar over every party)


@dataclass(frozen=True)
class HostModel:
    """What a host keeps after training: its own weights (never sent anywhere) and, with
    ``missing="zero"|"mean"``, the value each of its columns' empty cells gets (training
    and scoring alike). One-vs-rest (``classes`` K > 1), ``weights`` holds K per column,
    ``w[f K + k]`` (:mod:`rengo.vfl.hetero_lr.one_vs_rest`)."""

    weights: np.ndarray
    epochs_run: int
    fill: np.ndarray | None = None
    classes: int = 1


@dataclass(frozen=True)
class GuestModel:
    """The guest's weights and intercept, the Taylor loss of every epoch it ran, and with
    ``missing="zero"|"mean"`` the value each of its columns' empty cells gets.

    One-vs-rest (``classes`` K > 1; :mod:`rengo.vfl.hetero_lr.one_vs_rest`): ``weights``
    holds K per column (``w[f K + k]``), ``intercepts`` one per class (``intercept`` is 0)
    and ``losses`` the mean of the K binary Taylor losses."""

    weights: np.ndarray
    intercept: float
    losses: list[float] = field(default_factory=list)
    epochs_run: int = 0
    converged: bool = False
    fill: np.ndarray | None = None
    classes: int = 1
    intercepts: np.ndarray | None = None


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
    checkpoints: EpochCheckpoints | None = None,
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
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch.

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
    rows, classes = int(setup["rows"]), setup_classes(setup, guest)
    if dealt is None:
        dealt = lambda party, size: size if party == guest else size + 1  # noqa: E731
    optimizer = setup_optimizer(setup, config, rows)
    batch_size = epoch_batch_size(optimizer, config.batch_size, rows)
    sizes = class_batch_sizes(rows, batch_size, classes)

    def refuse_exposure(party: str, columns: int) -> None:
        if party != guest:  # the label party's gradient tells it nothing it lacks
            require_no_residual_exposure(party, columns // classes, rows, batch_size)

    dealing = config.obfuscator_source == "coordinator"
    # what each party may have decrypted: its gradient (the guest: and its batch loss)
    asked = {party: frozenset({"gradient"}) for party in parties}
    if config.compute_loss:
        asked[guest] = frozenset({"gradient", "loss"})
    lengths: dict[tuple[str, str], int] = {}  # each party's gradient length, from batch 0
    dealer = ObfuscatorPool(public, private_key=private, workers=workers)
    resumed = start_coordinator(checkpoints)
    decrypted, epochs_run = resumed.decrypted, resumed.epochs_run
    reporter = TrainingReporter(progress, channel.name, config.epochs, len(sizes))
    reporter.begin(epochs_run)
    with ThreadPoolExecutor(1) as background:
        ahead: Future[None] | None = None
        for epoch in range(epochs_run, epochs_run if resumed.stopped else config.epochs):
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
                decrypted += _serve_decryptions(
                    step, asked, private, workers, lengths, refuse_exposure
                )
                if optimizer == "newton":  # the guest's r^T z, then curvature and slope
                    for sub, names in NEWTON_DECRYPTIONS.items():
                        decrypted += _serve_decryptions(
                            step.scope(sub), {guest: names}, private, workers, lengths
                        )
                reporter.batch(epoch, batch)
            epochs_run = epoch + 1
            go_on, _ = receive_continue(this_epoch, guest)
            save_coordinator(checkpoints, epochs_run, decrypted, stopped=not go_on)
            reporter.epoch_end(epoch, None, stop=not go_on or epochs_run == config.epochs)
            if not go_on:
                break
    return CoordinatorReport(decrypted, epochs_run)


NEWTON_DECRYPTIONS = {
    NEWTON_RZ: frozenset({"rz"}),
    NEWTON_CURVATURE: frozenset({"curvature", "slope"}),
}
"""What the guest has decrypted in each Newton-CG sub-step: one number each."""


def _serve_decryptions(
    step: Channel,
    asked: dict[str, frozenset[str]],
    private: PaillierPrivateKey,
    workers: int | None,
    lengths: dict[tuple[str, str], int],
    first_gradient: Callable[[str, int], None] | None = None,
) -> int:
    """Decrypt every party's masked values of one batch and send each its residues back.

    A party may have decrypted only the values this step computes (``asked``: names by
    party), each a vector whose length stays what it was in the first batch (``lengths``,
    updated; a loss or Newton value: one number). Anything else would let a party have
    the coordinator decrypt ciphertexts it was given, such as the guest's residuals ``d``
    (a host that added them beside its gradient read the guest's labels off them, and the
    run went on as if nothing happened). ``first_gradient(party, length)`` sees a party's
    gradient length when its first batch sets it, before any of it is decrypted (and
    may refuse it: :func:`~rengo.vfl.hetero_lr.exposure.require_no_residual_exposure`).

    Raises
    ------
    ProtocolError
        Naming the party, for other names, another key, or another length.
    ConfigError
        From ``first_gradient``.
    """
    decrypted = 0
    for party, names in asked.items():
        masked = step.recv(party, MASKED)
        if not isinstance(masked, dict):
            raise ProtocolError(f"{party}: masked values must come as a mapping")
        if set(masked) != names:
            raise ProtocolError(
                f"{party} asked the coordinator to decrypt {sorted(map(str, masked))}; this "
                f"step decrypts its {sorted(names)} only"
            )
        reply = {}
        for name, values in masked.items():
            if not isinstance(values, EncryptedArray) or values.public_key != private.public_key:
                raise ProtocolError(f"{party}: {name!r} is not under this key")
            if (party, name) not in lengths:
                lengths[party, name] = 1 if name != "gradient" else values.size
                if name == "gradient" and first_gradient is not None:
                    first_gradient(party, values.size)
            length = lengths[party, name]
            if values.shape != (length,):
                raise ProtocolError(
                    f"{party}: {name!r} to decrypt has shape {values.shape}, expected "
                    f"({length},) as in the first batch"
                )
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


def penalty_mask(columns: int, fit_intercept: bool, classes: int = 1) -> np.ndarray:
    """1 for every coefficient L2 applies to, 0 for the intercept column (the last one;
    one-vs-rest: the last ``classes``, one intercept per class)."""
    mask = np.ones(columns)
    if fit_intercept:
        mask[-classes:] = 0.0
    return mask


def loss_converged(losses: Sequence[float], tol: float, patience: int = 1) -> bool:
    """Early stopping: none of the last ``patience`` epochs lowered the best loss before
    them by ``tol`` or more (0 disables), i.e. the loss stopped improving (scikit-learn's
    ``tol`` / ``n_iter_no_change`` rule)."""
    if not tol > 0 or len(losses) <= patience:
        return False
    return min(losses[-patience:]) > min(losses[:-patience]) - tol


def training_plateau(
    config: LinearModelConfig, optimizer: Resolved, losses: Sequence[float]
) -> tuple[bool, float]:
    """Whether training has converged after the epochs of ``losses``, and the learning-rate
    factor of the next epoch: the adaptive schedule's (:func:`adaptive_lr_scale`) for a
    first-order optimizer, else early stopping at ``tol`` / ``n_iter_no_change``
    (:func:`loss_converged`) and factor 1 (Newton-CG has no learning rate)."""
    if config.lr_schedule == "adaptive" and optimizer != "newton":
        scale, stop = adaptive_lr_scale(
            losses, config.tol, config.n_iter_no_change, config.lr_decay
        )
        return stop, scale
    return loss_converged(losses, config.tol, config.n_iter_no_change), 1.0


def per_class_newton(config: LinearModelConfig, classes: int) -> LinearModelConfig:
    """The config Newton-CG runs with over ``classes`` one-vs-rest class rows a row: its
    objective is the mean over all class rows, ``1/K`` of the sum of the K binary
    objectives, so L2 is divided by K for each class model to minimise its own binary
    objective with ``l2`` (as K separate fits would; a Newton step is the same on an
    objective scaled by ``1/K``). A binary run's config is returned as it is."""
    if classes == 1:
        return config
    return replace(config, l2=config.l2 / classes)


def setup_classes(setup: dict[str, Any], guest: str) -> int:
    """How many one-vs-rest models the label party's set-up trains (1: binary; a label
    party that names none trains one).

    Raises
    ------
    ProtocolError
        If the count is not an integer in ``[1, MAX_CLASSES]``.
    """
    classes = setup.get("classes", 1)
    if isinstance(classes, bool) or not isinstance(classes, int) or not 1 <= classes <= MAX_CLASSES:
        raise ProtocolError(
            f"{guest}'s set-up names {classes!r} one-vs-rest models, expected 1 to {MAX_CLASSES}"
        )
    return classes


def class_batch_sizes(rows: int, batch_size: int, classes: int) -> list[int]:
    """Class rows in each batch of an epoch over ``rows`` aligned rows (one-vs-rest: K
    class rows each, :mod:`rengo.vfl.hetero_lr.one_vs_rest`)."""
    return [classes * size for size in batch_sizes(rows, batch_size)]


def setup_optimizer(setup: dict[str, Any], config: LinearModelConfig, rows: int) -> Resolved:
    """The optimizer the guest resolved at set-up (a guest that names none: first-order).

    Raises
    ------
    ProtocolError
        If the guest names an unknown one.
    """
    named = setup.get("optimizer")
    if named is None:
        return resolve_optimizer(config, rows, quadratic=False)
    if named not in ("sgd", "adam", "newton"):
        raise ProtocolError(f"the guest's set-up names an unknown optimizer {named!r}")
    resolved: Resolved = named
    return resolved


def guest_model(
    weights: np.ndarray,
    config: LinearModelConfig,
    losses: list[float],
    epochs_run: int,
    converged: bool,
    fill: np.ndarray | None = None,
    intercept_shift: float | np.ndarray = 0.0,
) -> GuestModel:
    """Split the trained weights into coefficients and intercept, the intercept moved by
    ``intercept_shift`` (the objective's, :meth:`QuadraticObjective.intercept_shift`; not
    applied without an intercept). One-vs-rest, ``intercept_shift`` holds one shift per
    class, and the last K weights are the K intercepts."""
    if isinstance(intercept_shift, np.ndarray):
        classes = len(intercept_shift)
        if config.fit_intercept:
            intercepts = weights[-classes:] + intercept_shift
            coefficients = weights[:-classes]
        else:
            intercepts, coefficients = np.zeros(classes), weights
        return GuestModel(
            coefficients.copy(), 0.0, losses, epochs_run, converged, fill, classes, intercepts
        )
    intercept = float(weights[-1]) + intercept_shift if config.fit_intercept else 0.0
    coefs = weights[:-1] if config.fit_intercept else weights
    return GuestModel(coefs.copy(), intercept, losses, epochs_run, converged, fill)


def gradient_step(
    weights: np.ndarray,
    gradient_sum: np.ndarray,
    rows: int,
    state: Any,
    config: LinearModelConfig,
    epoch: int,
    penalised: np.ndarray,
    lr_scale: float = 1.0,
    *,
    column_scale: np.ndarray,
    optimizer: Resolved | None = None,
) -> tuple[np.ndarray, Any]:
    """Mean gradient plus L2 on the penalised coordinates, then one optimizer step at the
    epoch's learning rate (shared by every role and by local training; ``lr_scale`` is the
    adaptive schedule's factor, :func:`training_plateau`; ``optimizer`` is the one the
    guest resolved, default ``config.optimizer``, whose ``"auto"`` steps are Adam's).

    The step is taken in units of each column's scale (``column_scale``, the party's
    :func:`~rengo.vfl.hetero_lr.math.column_scales`): on the weights ``w * scale`` of the
    columns ``x / scale``, whose gradient is ``gradient / scale``, so that a column of
    amounts in the thousands does not move the scores by thousands a step; the optimizer
    state lives in those units."""
    gradient = gradient_sum / rows + config.l2 * weights * penalised
    lr = learning_rate(
        config.learning_rate,
        config.lr_schedule,
        epoch,
        decay=config.lr_decay,
        step_epochs=config.lr_step_epochs,
        scale=lr_scale,
    )
    moved, state = optimizer_step(
        weights * column_scale, gradient / column_scale, state, lr, optimizer or config.optimizer
    )
    stepped: np.ndarray = moved / column_scale
    return stepped, state


def next_batch_size(sizes: Sequence[int], epoch: int, batch: int, last_epoch: int) -> int:
    """Rows of the batch after (``epoch``, ``batch``), 0 after the last one training may
    run. Across an epoch's end this is a guess for a role the guest has not yet told
    whether training goes on: early stopping leaves at most one batch's obfuscators unused."""
    if batch + 1 < len(sizes):
        return sizes[batch + 1]
    return sizes[0] if epoch + 1 < last_epoch else 0


def obfuscators_needed(
    config: LinearModelConfig, rows: int, per_batch: int, *, per_row: int = 1
) -> int:
    """Obfuscators a party takes from its own pool for a batch of ``rows`` rows: ``per_row``
    per row when it makes its own (none when the coordinator deals them) plus
    ``per_batch``."""
    return (per_row * rows if config.obfuscator_source == "local" else 0) + per_batch


def epoch_obfuscators(
    config: LinearModelConfig, sizes: Sequence[int], per_batch: int, *, per_row: int = 1
) -> int:
    """Obfuscators a party takes from its own pool in one epoch of batches of ``sizes``
    rows: :func:`obfuscators_needed` summed over the batches."""
    return sum(obfuscators_needed(config, rows, per_batch, per_row=per_row) for rows in sizes)


def epochs_left(config: LinearModelConfig, resumed: LinearTraining) -> int:
    """Epochs a (possibly resumed) run may still train: none once it stopped."""
    return 0 if resumed.stopped else max(0, config.epochs - resumed.epochs_run)


def expected_obfuscators(
    config: LinearModelConfig,
    sizes: Sequence[int],
    per_batch: int,
    epochs: int,
    optimizer: Resolved,
    *,
    per_row: int = 1,
) -> int:
    """About how many obfuscators a party's pool makes in ``epochs`` epochs of batches of
    ``sizes`` rows (it sizes the pool's fixed-base table): :func:`obfuscators_needed` per
    batch, and with Newton-CG one more encryption of every row and a few scalars per epoch."""
    per_epoch = epoch_obfuscators(config, sizes, per_batch, per_row=per_row)
    if optimizer == "newton":
        per_epoch += sum(sizes) + 4
    return max(0, epochs) * per_epoch


NewtonStep = Callable[[Channel, np.ndarray, np.ndarray], np.ndarray]
"""``newton_step(step, weights, gradient_sum)``: a party's Newton-CG iteration (its new
weights) from its decrypted full-batch gradient sum."""

WeightStep = Callable[
    [Channel, np.ndarray, np.ndarray, int, Any, int, float], tuple[np.ndarray, Any]
]
"""``update(step, weights, gradient_sum, rows, state, epoch, lr_scale)``: a party's new
weights and optimizer state from its decrypted gradient sum over a batch of ``rows`` rows."""

ResidualStep = Callable[
    [Channel, np.ndarray, np.ndarray], tuple[EncryptedArray, Callable[[], EncryptedArray]]
]
"""``residual(step, yb, u_guest)``: the label party's ``Enc(d)`` of a batch (its labels
``yb``, its partial predictor ``u_guest``) from what the hosts sent in ``step``, and how to
make the batch's encrypted loss (called after ``Enc(d)`` went out, with ``compute_loss``)."""


def weight_update(
    config: LinearModelConfig,
    x: np.ndarray,
    penalised: np.ndarray,
    *,
    optimizer: Resolved | None = None,
    newton_step: NewtonStep | None = None,
    classes: int = 1,
) -> WeightStep:
    """A party's weight step after each batch: ``newton_step`` where Newton-CG trains, else
    :func:`gradient_step` with L2 on ``penalised`` in units of the column scales of ``x``
    (its training columns; ``classes`` class rows a row in one-vs-rest), by ``optimizer``
    (default ``config.optimizer``)."""
    column_scale = column_scales(x, classes)

    def update(
        step: Channel,
        weights: np.ndarray,
        gradient_sum: np.ndarray,
        rows: int,
        state: Any,
        epoch: int,
        lr_scale: float,
    ) -> tuple[np.ndarray, Any]:
        if newton_step is not None:
            return newton_step(step, weights, gradient_sum), state
        return gradient_step(
            weights,
            gradient_sum,
            rows,
            state,
            config,
            epoch,
            penalised,
            lr_scale,
            column_scale=column_scale,
            optimizer=optimizer,
        )

    return update


def _no_cg() -> CGState | None:
    return None


@dataclass(frozen=True)
class GuestSteps:
    """What one coordinated linear model's label party does its own way in the epochs every
    such model shares (:func:`guest_epochs`): forming ``Enc(d)`` and the encrypted loss
    (``residual``), stepping its weights (``update``), turning the decrypted batch losses
    into the reported one (``loss_constant + sum(loss_scale * loss) / rows``), its
    Newton-CG memory to checkpoint (``cg``) and the known part of every row's linear
    predictor, added to its own partial predictor before ``residual`` (``offset``, one per
    training row: a count model's ``log(exposure)``; ``None``: none)."""

    residual: ResidualStep
    update: WeightStep
    loss_scale: float = 1.0
    loss_constant: float = 0.0
    cg: Callable[[], CGState | None] = _no_cg
    offset: np.ndarray | None = None


@dataclass(frozen=True)
class HostSteps:
    """What one coordinated linear model's feature party does its own way in the epochs
    every such model shares (:func:`host_epochs`): what it sends from its partial predictor
    ``u_k`` of the batch's ``rows`` (``forward(step, u, rows)``), the exponent of the
    ``Enc(d)`` it gets back, its weight step (``update``), an encrypted L2 term added to
    its encrypted gradient where the residual carries a factor only the guest knows
    (``penalty(weights, rows)``) and its Newton-CG memory to checkpoint (``cg``)."""

    forward: Callable[[Channel, np.ndarray, np.ndarray], None]
    d_exponent: int
    update: WeightStep
    penalty: Callable[[np.ndarray, int], EncryptedArray] | None = None
    cg: Callable[[], CGState | None] = _no_cg


@dataclass(frozen=True)
class PartyRun:
    """One party's training of a coordinated linear model as set up: its channel in the
    protocol's scope, the key, the config, the coordinator, its training columns ``x`` (its
    aligned rows; one-vs-rest: each batch's ``classes`` class rows a row are expanded from
    them, :func:`~rengo.vfl.hetero_lr.one_vs_rest.batch_columns`), the
    optimizer the guest resolved, the batch seed and size, where training resumes, and its
    obfuscator pool: ``per_row`` a row (unless the coordinator deals them) and
    ``per_batch`` more a batch."""

    hlr: Channel
    public: PaillierPublicKey
    config: LinearModelConfig
    coordinator: str
    x: np.ndarray
    optimizer: Resolved
    batch_seed: int
    batch_size: int
    resumed: LinearTraining
    pool: ObfuscatorPool
    per_batch: int
    per_row: int = 1
    classes: int = 1

    def obfuscators(self, rows: int) -> int:
        """What a batch of ``rows`` rows takes from the pool."""
        return obfuscators_needed(self.config, rows, self.per_batch, per_row=self.per_row)

    def sizes(self) -> list[int]:
        """Class rows in each batch of an epoch (one-vs-rest: K a row; binary: its rows)."""
        return class_batch_sizes(len(self.x), self.batch_size, self.classes)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """The aligned rows of ``x`` in each batch of ``epoch`` (:func:`batch_order`)."""
        return batch_order(self.batch_seed, epoch, len(self.x), self.batch_size, whole=True)

    def class_rows_of(self, aligned: np.ndarray) -> np.ndarray:
        """The class rows of a batch's ``aligned`` rows (each row's K together; binary:
        ``aligned`` itself), which index the labels and row weights."""
        return class_rows(aligned, self.classes)

    def batch_columns(self, aligned: np.ndarray) -> np.ndarray:
        """The training columns of a batch's class rows, expanded from its ``aligned``
        rows alone (:func:`~rengo.vfl.hetero_lr.one_vs_rest.batch_columns`)."""
        return batch_columns(self.x, aligned, self.classes)


def start_party_run(
    hlr: Channel,
    public: PaillierPublicKey,
    config: LinearModelConfig,
    coordinator: str,
    x: np.ndarray,
    optimizer: Resolved,
    batch_seed: int,
    batch_size: int,
    resumed: LinearTraining,
    per_batch: int,
    per_row: int = 1,
    classes: int = 1,
) -> PartyRun:
    """A :class:`PartyRun` with its obfuscator pool, sized for the epochs left (``x``: the
    aligned rows, ``classes`` class models, :mod:`rengo.vfl.hetero_lr.one_vs_rest`)."""
    sizes = class_batch_sizes(len(x), batch_size, classes)
    expected = expected_obfuscators(
        config, sizes, per_batch, epochs_left(config, resumed), optimizer, per_row=per_row
    )
    pool = ObfuscatorPool.for_encryptor(
        public,
        config.obfuscator_scheme,
        processes=config.obfuscator_processes,
        expected_count=expected,
    )
    return PartyRun(
        hlr, public, config, coordinator, x, optimizer, batch_seed, batch_size, resumed, pool,
        per_batch, per_row, classes,
    )  # fmt: skip


def guest_epochs(
    run: PartyRun,
    y: np.ndarray,
    hosts: Sequence[str],
    steps: GuestSteps,
    lr_scale: float,
    progress: ProgressFn | None,
    checkpoints: EpochCheckpoints | None,
) -> tuple[np.ndarray, list[float], int, bool]:
    """The label party's epochs of a coordinated linear model, from where ``run`` resumes.
    Per batch: ``Enc(d)`` (``steps.residual``), re-randomised to every host; its own
    gradient and the batch loss decrypted masked; its weight step (``steps.update``). Per
    epoch: the verdict to every role (:func:`end_guest_epoch`).

    Returns
    -------
    tuple
        The weights, the per-epoch losses, the epochs run and whether the loss converged.
    """
    config, pool, coordinator = run.config, run.pool, run.coordinator
    weights, state = run.resumed.weights, run.resumed.optimizer
    losses, converged = list(run.resumed.losses), run.resumed.converged
    epochs_run = run.resumed.epochs_run
    sizes = run.sizes()
    reporter = TrainingReporter(progress, run.hlr.name, config.epochs, len(sizes))
    last_epoch = epochs_run if run.resumed.stopped else config.epochs
    if epochs_run < last_epoch:  # made while the hosts start their first batch
        pool.fill(run.obfuscators(sizes[0]))
    for epoch in range(epochs_run, last_epoch):
        this_epoch = run.hlr.scope(epoch=epoch)
        loss_sum, seen = 0.0, 0
        for batch, aligned in enumerate(run.batches(epoch)):
            step = this_epoch.scope(batch=batch)
            rows = run.class_rows_of(aligned)
            xb, yb = run.batch_columns(aligned), y[rows]
            u = xb @ weights if steps.offset is None else xb @ weights + steps.offset[rows]
            enc_d, batch_loss = steps.residual(step, yb, u)
            fresh_d = enc_d.rerandomize(
                batch_obfuscators(config.obfuscator_source, step, coordinator, pool, len(rows))
            )
            for h in hosts:
                step.send(h, D, fresh_d)
            to_decrypt = {"gradient": enc_d.matmul(xb, config.feature_precision_bits)}
            if config.compute_loss:
                to_decrypt["loss"] = batch_loss()
            plain = masked_round_trip(step, coordinator, to_decrypt, pool)
            if config.compute_loss:
                loss_sum += steps.loss_scale * float(plain["loss"][0])
            weights, state = steps.update(  # per aligned row: each class model's own mean
                step, weights, plain["gradient"], len(aligned), state, epoch, lr_scale
            )
            seen += len(rows)
            running = steps.loss_constant + loss_sum / seen if config.compute_loss else None
            reporter.batch(epoch, batch, running)
            if batch + 1 < len(sizes):  # the next batch's, made while the hosts work
                pool.fill(run.obfuscators(sizes[batch + 1]))
        epochs_run = epoch + 1
        epoch_loss = steps.loss_constant + loss_sum / seen if config.compute_loss else None
        go_on, converged, lr_scale = end_guest_epoch(
            this_epoch,
            [*hosts, coordinator],
            config,
            run.optimizer,
            epochs_run,
            losses,
            epoch_loss,
            converged,
            checkpoints=checkpoints,
            weights=weights,
            state=state,
            seed=run.batch_seed,
            cg=steps.cg(),
        )
        reporter.epoch_end(epoch, losses[-1] if losses else None, stop=not go_on)
        if not go_on:
            break
        pool.fill(run.obfuscators(sizes[0]))  # the next epoch's first
    return weights, losses, epochs_run, converged


def host_epochs(
    run: PartyRun,
    guest: str,
    steps: HostSteps,
    lr_scale: float,
    progress: ProgressFn | None,
    checkpoints: EpochCheckpoints | None,
) -> tuple[np.ndarray, int]:
    """A feature party's epochs of a coordinated linear model, from where ``run`` resumes.
    Per batch: what it sends from its partial predictor (``steps.forward``); ``Enc(d)``
    back from the guest; its masked gradient decrypted; its weight step (``steps.update``).
    Per epoch: the guest's verdict (:func:`end_host_epoch`).

    Returns
    -------
    tuple
        The weights and the epochs run.
    """
    config, pool = run.config, run.pool
    weights, state, epochs_run = run.resumed.weights, run.resumed.optimizer, run.resumed.epochs_run
    sizes = run.sizes()
    reporter = TrainingReporter(progress, run.hlr.name, config.epochs, len(sizes))
    last_epoch = epochs_run if run.resumed.stopped else config.epochs
    if epochs_run < last_epoch:
        pool.fill(run.obfuscators(sizes[0]))
    for epoch in range(epochs_run, last_epoch):
        this_epoch = run.hlr.scope(epoch=epoch)
        for batch, aligned in enumerate(run.batches(epoch)):
            step = this_epoch.scope(batch=batch)
            rows = run.class_rows_of(aligned)
            xb = run.batch_columns(aligned)
            steps.forward(step, xb @ weights, rows)
            upcoming = next_batch_size(sizes, epoch, batch, last_epoch)
            if upcoming:  # the next batch's obfuscators, made while the guest works
                pool.fill(run.obfuscators(upcoming))
            enc_d = expect_encrypted(
                step.recv(guest, D), run.public, (len(rows),), steps.d_exponent, "d"
            )
            gradient = enc_d.matmul(xb, config.feature_precision_bits)
            if steps.penalty is not None:
                gradient = gradient + steps.penalty(weights, len(rows))
            plain = masked_round_trip(step, run.coordinator, {"gradient": gradient}, pool)
            weights, state = steps.update(  # per aligned row, as the guest's
                step, weights, plain["gradient"], len(aligned), state, epoch, lr_scale
            )
            reporter.batch(epoch, batch)
        epochs_run = epoch + 1
        go_on, lr_scale = end_host_epoch(
            this_epoch, guest, checkpoints, weights, state, epochs_run, run.batch_seed, steps.cg()
        )
        reporter.epoch_end(epoch, None, stop=not go_on or epochs_run == config.epochs)
        if not go_on:
            break
    return weights, epochs_run


def open_guest_training(
    channel: Channel,
    features: np.ndarray,
    labels: np.ndarray,
    kind: LabelKind,
    config: LinearModelConfig,
    coordinator: str,
    classes: int = 1,
) -> tuple[Channel, PaillierPublicKey, np.ndarray, np.ndarray, np.ndarray | None]:
    """The label party's checked table and the coordinator's public key: the protocol's
    scope of ``channel``, the key, the features (with the intercept's column of ones last,
    with ``fit_intercept``), the labels of ``kind`` and the fill of empty cells. With
    ``classes`` K > 1 (one-vs-rest, labels checked by
    :func:`~rengo.vfl.hetero_lr.one_vs_rest.class_count`), the labels of the K class rows
    of every row (:mod:`rengo.vfl.hetero_lr.one_vs_rest`); the features stay one row per
    aligned row (each batch's class rows are expanded as it runs).

    Raises
    ------
    DataError
        If the features or labels are not usable (naming the party).
    ProtocolError
        If the coordinator sends no Paillier public key.
    """
    x, fill = training_matrix(features, config.missing, channel.name)
    if classes > 1:
        if len(labels) != len(x):
            raise DataError(
                f"{channel.name}: expected one label per feature row ({len(x)}), got {len(labels)}"
            )
        y = class_targets(np.asarray(labels, dtype=np.float64), classes)
    else:
        y = check_labels(labels, kind, len(x), channel.name)
    if config.fit_intercept:
        x = np.hstack([x, np.ones((len(x), 1))])
    hlr = channel.scope(SCOPE)
    public = hlr.recv(coordinator, PUBLIC_KEY)
    if not isinstance(public, PaillierPublicKey):
        raise ProtocolError("the coordinator sent no Paillier public key")
    return hlr, public, x, y, fill


def send_setup(
    hlr: Channel,
    recipients: Sequence[str],
    config: LinearModelConfig,
    rows: int,
    batch_seed: int,
    hosts: Sequence[str],
    optimizer: Resolved,
    lr_scale: float,
    classes: int = 1,
) -> None:
    """The label party's SETUP to every other role: the config, its row count, the batch
    seed, the hosts in order, the optimizer it resolved, the first epoch's rate factor and,
    one-vs-rest, how many class models it trains (never which classes)."""
    setup: dict[str, Any] = {
        "config": config.to_wire(),
        "rows": rows,
        "seed": batch_seed,
        "hosts": list(hosts),
        "optimizer": optimizer,
        "lr_scale": lr_scale,
    }
    if classes > 1:  # a binary run's set-up stays what it was
        setup["classes"] = classes
    for role in recipients:
        hlr.send(role, SETUP, setup)


def open_host_training(
    channel: Channel, features: np.ndarray, guest: str, coordinator: str
) -> tuple[
    Channel, PaillierPublicKey, dict[str, Any], LinearModelConfig, np.ndarray, np.ndarray | None
]:
    """A feature party's set-up (:func:`join_as_host`) and its checked table: the
    protocol's scope of ``channel``, the public key, the guest's set-up, its config, the
    features with empty cells filled as it says and the fill.

    Raises
    ------
    DataError
        If the features are not usable or their row count differs from the guest's.
    ProtocolError
        Without a public key, or when the guest's host list does not name this host.
    """
    matrix = checked_matrix(features, channel.name)
    hlr = channel.scope(SCOPE)
    public, setup = join_as_host(hlr, len(matrix), guest, coordinator)
    config = LinearModelConfig.from_wire(setup["config"])
    x, fill = training_matrix(matrix, config.missing, channel.name)
    return hlr, public, setup, config, x, fill


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
    checkpoints: EpochCheckpoints | None = None,
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
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch.

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
    classes = 1
    if objective.labels == "binary":  # 0/1 labels train one model, K classes K (OvR)
        classes = class_count(labels, config.multi_class, channel.name)
    hlr, public, x, y, fill = open_guest_training(
        channel, features, labels, objective.labels, config, coordinator, classes
    )
    rows = len(x)  # aligned rows (one-vs-rest: y holds K class rows of each)
    size = x.shape[1] * classes  # weights (one-vs-rest: K a column, w[f K + k])
    weighting = guest_weighting(config, objective, y, channel.name, classes)  # stays here
    resumed = start_training(checkpoints, size, channel.name)
    batch_seed = run_batch_seed(resumed, seed)
    optimizer = resolve_optimizer(config, rows, newton_on_any_table=objective.newton_on_any_table)
    if weighting is not None and optimizer == "newton":  # "auto": its curvature is unweighted
        optimizer = "adam"
    if optimizer == "newton":  # its one batch is every row, expanded at once
        require_newton_expansion_fits(rows, x.shape[1], classes, channel.name, own=True)
    batch_size = epoch_batch_size(optimizer, config.batch_size, rows)
    _, lr_scale = training_plateau(config, optimizer, resumed.losses)  # a resumed run's
    send_setup(
        hlr, [*hosts, coordinator], config, rows, batch_seed, hosts, optimizer, lr_scale, classes
    )
    if weighting is not None and config.compute_loss:  # for the hosts' weighted loss terms
        enc_weights = encrypted_row_weights(weighting, y, public)
        for host in hosts:
            hlr.send(host, ROW_WEIGHTS, enc_weights)

    p_bits = config.residual_precision_bits
    loss_exp = _loss_exponent(config)
    # what one batch takes from the pool: Enc(d) re-randomised (or dealt), one mask per
    # gradient column and one for the loss
    per_batch = size + (1 if config.compute_loss else 0)
    run = start_party_run(
        hlr, public, config, coordinator, x, optimizer, batch_seed, batch_size, resumed,
        per_batch, classes=classes,
    )  # fmt: skip
    penalised = penalty_mask(size, config.fit_intercept, classes)
    newton = (  # its one batch is every row: it holds their class rows
        _NewtonParty(class_columns(x, classes), objective, per_class_newton(config, classes),
                     penalised)
        if optimizer == "newton"
        else None
    )  # fmt: skip
    newton_step = None
    if newton is not None:
        newton.state = resumed.cg  # a resumed run continues its conjugate directions
        newton_step = partial(
            newton.guest_step, hosts=hosts, coordinator=coordinator, public=public, pool=run.pool
        )

    def residual(
        step: Channel, yb: np.ndarray, u_guest: np.ndarray
    ) -> tuple[EncryptedArray, Callable[[], EncryptedArray]]:
        """Steps 1-2: the hosts' ``Enc(u_k)`` summed into ``Enc(d)``."""
        received = [expect_mapping(step.recv(h, U), h) for h in hosts]
        enc_u = _sum_host_predictors(hosts, received, public, len(yb), p_bits)
        row_weights = None if weighting is None else weighting.rows(yb)
        if row_weights is not None:  # Enc(s (u + offset)): each row's residual times s
            enc_d = weighted_residual(
                enc_u, objective.offset(u_guest, yb), row_weights, p_bits + objective.shift
            )
        else:
            # LR: Enc(u + 4(0.5 - y)) at exponent P is Enc(d) at exponent P + 2,
            # d = u/4 + 0.5 - y; linear regression: Enc(u - y) = Enc(d) at exponent P
            scaled_d = enc_u + objective.offset(u_guest, yb)
            enc_d = EncryptedArray(public, scaled_d.ciphertexts, p_bits + objective.shift)
        return enc_d, lambda: _guest_batch_loss(
            enc_u, u_guest, yb, hosts, received, public, loss_exp, config, objective, row_weights
        )

    steps = GuestSteps(
        residual,
        weight_update(config, x, penalised, newton_step=newton_step, classes=classes),
        loss_constant=objective.constant,
        cg=lambda: None if newton is None else newton.state,
    )
    weights, losses, epochs_run, converged = guest_epochs(
        run, y, hosts, steps, lr_scale, progress, checkpoints
    )
    if classes > 1:  # each class model's own base rate
        return guest_model(
            weights, config, losses, epochs_run, converged, fill,
            class_shifts(objective, y, classes, weighting),
        )  # fmt: skip
    if weighting is None:
        shift = objective.intercept_shift(y)
    else:  # the weighted loss's base rate
        shift = base_rate_shift(y, weighting.rows(y))
    return guest_model(weights, config, losses, epochs_run, converged, fill, shift)


def class_shifts(
    objective: QuadraticObjective,
    y: np.ndarray,
    classes: int,
    weighting: GuestWeighting | None,
) -> np.ndarray:
    """Each one-vs-rest class model's intercept shift (:func:`base_rate_shift` at its own
    base rate; weighted: its weighted rate), from the class rows' 0/1 labels ``y``."""
    per_class = y.reshape(-1, classes)
    if weighting is None:
        return np.array([objective.intercept_shift(per_class[:, k]) for k in range(classes)])
    weights = weighting.rows(y).reshape(-1, classes)
    return np.array([base_rate_shift(per_class[:, k], weights[:, k]) for k in range(classes)])


def end_guest_epoch(
    epoch_scope: Channel,
    recipients: list[str],
    config: LinearModelConfig,
    optimizer: Resolved,
    epochs_run: int,
    losses: list[float],
    epoch_loss: float | None,
    converged: bool,
    *,
    checkpoints: EpochCheckpoints | None = None,
    weights: np.ndarray | None = None,
    state: Any = None,
    seed: int | None = None,
    cg: CGState | None = None,
) -> tuple[bool, bool, float]:
    """The label party's end of an epoch: record its loss, decide whether training goes on
    (not converged, epochs left) and at which learning-rate factor
    (:func:`training_plateau`), tell every other role (CONTINUE), then checkpoint its
    ``weights`` and optimizer ``state`` (with ``checkpoints``).

    Returns
    -------
    tuple of (bool, bool, float)
        Whether training goes on, whether the loss has converged, and the next epoch's
        learning-rate factor.
    """
    go_on, lr_scale = True, 1.0
    if epoch_loss is not None:
        losses.append(epoch_loss)
        stop, lr_scale = training_plateau(config, optimizer, losses)
        if stop:
            converged, go_on = True, False
    go_on = go_on and epochs_run < config.epochs
    for role in recipients:
        epoch_scope.send(role, CONTINUE, {"go_on": go_on, "lr_scale": lr_scale})
    if checkpoints is not None:
        assert weights is not None
        save_epoch(
            checkpoints,
            weights,
            state,
            epochs_run,
            stopped=not go_on,
            seed=seed,
            losses=losses,
            converged=converged,
            cg=cg,
        )
    return go_on, converged, lr_scale


def _rate_factor(value: Any) -> float | None:
    """``value`` as a learning-rate factor in (0, 1], or None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        return None
    return float(value)


def setup_lr_scale(setup: dict[str, Any], guest: str) -> float:
    """The learning-rate factor the label party's set-up gives for the first epoch a feature
    party trains (below 1 when a resumed run had cut the rate already): the label party
    recomputes it from its losses, so every party resumes at the same rate whatever its own
    checkpoint holds.

    Raises
    ------
    ProtocolError
        If the set-up's factor is not in (0, 1].
    """
    scale = _rate_factor(setup.get("lr_scale", 1.0))
    if scale is None:
        raise ProtocolError(f"{guest}'s set-up gives a learning-rate factor outside (0, 1]")
    return scale


def receive_continue(epoch_scope: Channel, guest: str) -> tuple[bool, float]:
    """The label party's CONTINUE at an epoch's end, checked: whether training goes on, and
    the next epoch's learning-rate factor (what the adaptive schedule reveals to the other
    roles: the epochs where the loss stopped improving).

    Raises
    ------
    ProtocolError
        If the message is not ``{"go_on": bool, "lr_scale": factor in (0, 1]}``.
    """
    message = epoch_scope.recv(guest, CONTINUE)
    go_on = message.get("go_on") if isinstance(message, dict) else None
    scale = _rate_factor(message.get("lr_scale")) if isinstance(message, dict) else None
    if not isinstance(go_on, bool) or scale is None:
        raise ProtocolError(
            f"{guest} ended the epoch with {message!r}: expected whether training goes on "
            "and a learning-rate factor in (0, 1]"
        )
    return go_on, scale


def end_host_epoch(
    epoch_scope: Channel,
    guest: str,
    checkpoints: EpochCheckpoints | None,
    weights: np.ndarray,
    state: Any,
    epochs_run: int,
    seed: int,
    cg: CGState | None = None,
) -> tuple[bool, float]:
    """A feature party's end of an epoch: the label party's verdict
    (:func:`receive_continue`), then its own checkpoint (a resumed run's rate factor comes
    from the label party's set-up, :func:`setup_lr_scale`).

    Returns
    -------
    tuple of (bool, float)
        Whether training goes on, and the next epoch's learning-rate factor.
    """
    go_on, lr_scale = receive_continue(epoch_scope, guest)
    save_epoch(checkpoints, weights, state, epochs_run, stopped=not go_on, seed=seed, cg=cg)
    return go_on, lr_scale


def run_batch_seed(resumed: LinearTraining, seed: int | None) -> int:
    """The batch seed of a (possibly resumed) run: a resumed run's own, else ``seed``, else
    one drawn from the OS CSPRNG."""
    if resumed.seed is not None:
        return resumed.seed
    return secrets.randbits(63) if seed is None else int(seed)


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
    row_weights: np.ndarray | None = None,
) -> EncryptedArray:
    """``Enc(sum_i b(y_i) u_i + a u_i^2 [+ c(y_i)])`` for the batch, u = u_guest + sum_k u_k
    (LR: ``b = 0.5 - y``, ``a = 1/8``; see :mod:`rengo.vfl.hetero_lr.objective`), each
    row's term times its class weight when ``row_weights`` are given.

    Expanding u^2: the guest adds its plaintext terms, ``sum_i U_i (b(y_i) + 2a u_guest_i)``
    by one encrypted dot product, and the hosts' ``a sum u_k^2`` and cross terms (weighted
    by the hosts under encryption, :mod:`rengo.vfl.hetero_lr.class_weighting`)."""
    p_bits = config.residual_precision_bits
    s = np.ones(len(yb)) if row_weights is None else row_weights
    weights_on_u = (s * (objective.linear(yb) + 2 * objective.square * u_guest))[:, None]
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
    plain = float(
        np.sum(s * (objective.linear(yb) * u_guest + objective.square * u_guest * u_guest))
    )
    if objective.plain is not None:
        plain += float(np.sum(s * objective.plain(yb)))
    if row_weights is not None:  # each row's constant weighted too (the mean adds 1 a row)
        plain += objective.constant * float(np.sum(s - 1.0))
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
    checkpoints: EpochCheckpoints | None = None,
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
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch.

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
    hlr, public, setup, config, x, fill = open_host_training(channel, features, guest, coordinator)
    hosts = [str(h) for h in setup["hosts"]]
    classes, columns = setup_classes(setup, guest), x.shape[1]
    optimizer = setup_optimizer(setup, config, len(x))
    if optimizer == "newton":  # every row expanded at once: K^2 times the table
        require_newton_expansion_fits(len(x), columns, classes, guest)
    batch_size = epoch_batch_size(optimizer, config.batch_size, len(x))
    require_no_residual_exposure(channel.name, columns, len(x), batch_size)
    size = columns * classes  # weights (one-vs-rest: K a column, w[f K + k])
    p_bits = config.residual_precision_bits
    class_weighted = weighted(config)  # the guest weighs each row's residual by its class
    enc_weights = None
    if class_weighted and config.compute_loss:  # Enc(s): the loss terms' row weights
        enc_weights = expect_encrypted(
            hlr.recv(guest, ROW_WEIGHTS), public, (len(x) * classes,), WEIGHT_BITS, "row weights"
        )
    # what one batch of b rows takes from the pool: Enc(u) and the squared term (b + 1,
    # or dealt), one mask per gradient column, one re-randomisation per earlier host
    # (weighted, with later hosts: Enc(s u) for them, one more per row)
    own = (0 if config.obfuscator_source == "coordinator" else 1) + size
    per_batch = own + hosts.index(channel.name)
    later = enc_weights is not None and hosts.index(channel.name) + 1 < len(hosts)
    resumed = start_training(checkpoints, size, channel.name)
    run = start_party_run(
        hlr, public, config, coordinator, x, optimizer, int(setup["seed"]), batch_size, resumed,
        per_batch, 2 if later else 1, classes,
    )  # fmt: skip
    check_seed(resumed, int(setup["seed"]), channel.name)
    lr_scale = setup_lr_scale(setup, guest)
    penalised = penalty_mask(size, fit_intercept=False)  # hosts have no intercept
    newton = (  # its one batch is every row: it holds their class rows
        _NewtonParty(class_columns(x, classes), objective, per_class_newton(config, classes),
                     penalised)
        if optimizer == "newton"
        else None
    )  # fmt: skip
    newton_step = None
    if newton is not None:
        newton.state = resumed.cg  # a resumed run continues its conjugate directions
        newton_step = partial(
            newton.host_step, guest=guest, hosts=hosts, public=public, pool=run.pool
        )

    def forward(step: Channel, u: np.ndarray, rows: np.ndarray) -> None:
        """Step 1: ``Enc(u_k)`` (and, for the loss, its square and cross terms) -> guest."""
        obfuscators = batch_obfuscators(
            config.obfuscator_source, step, coordinator, run.pool, len(u) + 1
        )
        enc_u = encrypt_array(u, public, precision_bits=p_bits, obfuscators=obfuscators[:-1])
        message: dict[str, Any] = {"u": enc_u}
        if config.compute_loss:
            batch_weights = None if enc_weights is None else enc_weights[rows]
            message["square"] = _host_square(
                u, batch_weights, objective, _loss_exponent(config), public, obfuscators[-1:]
            )
            message["cross"] = _host_cross_terms(
                step, u, enc_u, hosts, config, run.pool, objective, batch_weights
            )
        step.send(guest, U, message)

    steps = HostSteps(
        forward,
        p_bits + objective.shift + (WEIGHT_BITS if class_weighted else 0),
        weight_update(config, x, penalised, newton_step=newton_step, classes=classes),
        cg=lambda: None if newton is None else newton.state,
    )
    weights, epochs_run = host_epochs(run, guest, steps, lr_scale, progress, checkpoints)
    return HostModel(weights.copy(), epochs_run, fill, classes)


def _host_square(
    u: np.ndarray,
    batch_weights: EncryptedArray | None,
    objective: QuadraticObjective,
    loss_exponent: int,
    public: PaillierPublicKey,
    obfuscators: np.ndarray,
) -> EncryptedArray:
    """``Enc(a sum u_k^2)`` of a batch, or with the guest's ``Enc(s)`` of its rows
    ``Enc(a sum s u_k^2)`` (re-randomised), at the loss's exponent."""
    if batch_weights is None:
        square = np.array([objective.square * float(u @ u)])
        return encrypt_array(square, public, precision_bits=loss_exponent, obfuscators=obfuscators)
    weighted_square = host_weighted_square(batch_weights, u, objective.square, loss_exponent)
    return weighted_square.rerandomize(obfuscators)


def _host_cross_terms(
    step: Channel,
    u: np.ndarray,
    enc_u: EncryptedArray,
    hosts: list[str],
    config: LinearModelConfig,
    pool: ObfuscatorPool,
    objective: QuadraticObjective,
    batch_weights: EncryptedArray | None = None,
) -> dict[str, EncryptedArray]:
    """With every earlier host k, ``Enc(2a sum u_k u)`` (LR: ``a = 1/8``) from the
    ``Enc(u_k)`` it sent us, re-randomised so the guest cannot test guesses of u; later
    hosts get our ``Enc(u)`` for theirs (the loss needs every cross term of u^2). Class
    weighted (``batch_weights``: the guest's ``Enc(s)`` of the batch), later hosts get
    ``Enc(s u)`` instead, and the cross terms are ``Enc(2a sum s u_k u)``."""
    public, p_bits = enc_u.public_key, config.residual_precision_bits
    place = hosts.index(step.name)
    later, earlier = hosts[place + 1 :], hosts[:place]
    extra = 0 if batch_weights is None else WEIGHT_BITS
    if later:
        shared = (
            enc_u
            if batch_weights is None
            else host_weighted_partial(batch_weights, u, p_bits, pool)
        )
        for peer in later:
            step.send(peer, PEER_U, shared)
    cross = {}
    for peer in earlier:
        theirs = expect_encrypted(
            step.recv(peer, PEER_U), public, (len(u),), p_bits + extra, f"{peer} u"
        )
        product = theirs.matmul(2 * objective.square * u[:, None], p_bits + 3 - extra)
        cross[peer] = product.rerandomize(pool.take(1))
    return cross


def _no_linear_term(y: np.ndarray) -> np.ndarray:
    zeros: np.ndarray = np.zeros_like(y, dtype=np.float64)
    return zeros


def _expect_scalar(value: Any, sender: str, what: str) -> float:
    """``value`` as a finite float, else a :class:`ProtocolError` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ProtocolError(f"{sender} sent {value!r} as {what}, expected a finite number")
    return float(value)


class _NewtonParty:
    """One party's Newton-CG iterations (:mod:`rengo.vfl.hetero_lr.newton`): the inverse of
    its own Hessian block and its CG memory. One iteration per epoch, after the gradient
    round (full batch), in two more rounds of the epoch's batch scope:

    1. ``newton=rz``: host -> guest ``Enc(g_k^T z_k)`` (``z_k = H_kk^-1 g_k``, local); the
       guest adds its own, has the masked sum decrypted and sends every host
       ``beta = r^T z / r_prev^T z_prev``; every party sets ``p_k = -z_k + beta p_k``;
    2. ``newton=curvature``: host -> guest ``Enc(X_k p_k)``, ``Enc(a ||X_k p_k||^2 +
       n l2/2 ||p_k||^2)``, the cross terms with earlier hosts (as for the loss) and
       ``Enc(g_k^T p_k)``; the guest forms ``Enc(n/2 p^T H p)`` and ``Enc(g^T p)``, has
       them decrypted masked, and sends every host ``alpha = -g^T p / p^T H p``; every
       party steps ``w_k += alpha p_k``.

    What each role learns beyond a gradient step: the guest three sums over every party
    and row (``r^T z``, ``g^T p``, ``p^T H p``, the kind of aggregate the epoch loss it
    already learns is), the hosts the two step coefficients ``beta`` and ``alpha``; the
    coordinator decrypts masked values only. Hosts send ciphertexts only.
    """

    def __init__(
        self,
        x: np.ndarray,
        objective: QuadraticObjective,
        config: LinearModelConfig,
        penalised: np.ndarray,
    ) -> None:
        self.x, self.objective, self.config, self.penalised = x, objective, config, penalised
        block = local_hessian(x, objective.square, config.l2, penalised)
        self.inverse = preconditioner(block)
        self.state = CGState()
        self.curvature_objective = QuadraticObjective(
            "curvature", objective.labels, 0, objective.offset, objective.square, _no_linear_term
        )

    def _gradient(self, weights: np.ndarray, gradient_sum: np.ndarray) -> np.ndarray:
        gradient: np.ndarray = gradient_sum / len(self.x) + self.config.l2 * weights * (
            self.penalised
        )
        return gradient

    def guest_step(
        self,
        step: Channel,
        weights: np.ndarray,
        gradient_sum: np.ndarray,
        hosts: Sequence[str],
        coordinator: str,
        public: PaillierPublicKey,
        pool: ObfuscatorPool,
    ) -> np.ndarray:
        """The guest's iteration: returns its new weights."""
        rows, loss_exp = len(self.x), _loss_exponent(self.config)
        gradient = self._gradient(weights, gradient_sum)
        z = self.inverse @ gradient
        rz_step = step.scope(NEWTON_RZ)
        rz_sum = _sum_scalars(rz_step, hosts, RZ, public, loss_exp) + np.array([gradient @ z])
        rz = float(masked_round_trip(rz_step, coordinator, {"rz": rz_sum}, pool)["rz"][0])
        beta = conjugate_coefficient(rz, self.state)
        for host in hosts:
            rz_step.send(host, BETA, beta)
        direction = search_direction(z, beta, self.state)
        curv_step = step.scope(NEWTON_CURVATURE)
        v = self.x @ direction
        received = [expect_mapping(curv_step.recv(h, U), h) for h in hosts]
        enc_v = _sum_host_predictors(
            hosts, received, public, rows, self.config.residual_precision_bits
        )
        curvature = _guest_batch_loss(
            enc_v,
            v,
            np.zeros(rows),
            hosts,
            received,
            public,
            loss_exp,
            self.config,
            self.curvature_objective,
        ) + np.array(
            [0.5 * rows * self.config.l2 * float((direction * self.penalised) @ direction)]
        )
        slope = _sum_slopes(hosts, received, public, loss_exp) + np.array(
            [float(gradient @ direction)]
        )
        plain = masked_round_trip(
            curv_step, coordinator, {"curvature": curvature, "slope": slope}, pool
        )
        alpha = step_length(float(plain["slope"][0]), 2.0 * float(plain["curvature"][0]) / rows)
        for host in hosts:
            curv_step.send(host, ALPHA, alpha)
        self.state = CGState(direction, rz)
        new_weights: np.ndarray = weights + alpha * direction
        return new_weights

    def host_step(
        self,
        step: Channel,
        weights: np.ndarray,
        gradient_sum: np.ndarray,
        guest: str,
        hosts: list[str],
        public: PaillierPublicKey,
        pool: ObfuscatorPool,
    ) -> np.ndarray:
        """A host's iteration: returns its new weights (which never leave it)."""
        rows, loss_exp = len(self.x), _loss_exponent(self.config)
        gradient = self._gradient(weights, gradient_sum)
        z = self.inverse @ gradient
        rz_step = step.scope(NEWTON_RZ)
        rz_step.send(guest, RZ, _encrypt_scalar(float(gradient @ z), public, loss_exp, pool))
        beta = _expect_scalar(rz_step.recv(guest, BETA), guest, "beta")
        direction = search_direction(z, beta, self.state)
        curv_step = step.scope(NEWTON_CURVATURE)
        v = self.x @ direction
        enc_v = encrypt_array(
            v,
            public,
            precision_bits=self.config.residual_precision_bits,
            obfuscators=pool.take(rows),
        )
        square = self.objective.square * float(v @ v) + 0.5 * rows * self.config.l2 * float(
            direction @ direction
        )
        message: dict[str, Any] = {
            "u": enc_v,
            "square": _encrypt_scalar(square, public, loss_exp, pool),
            "cross": _host_cross_terms(
                curv_step, v, enc_v, hosts, self.config, pool, self.objective
            ),
            "slope": _encrypt_scalar(float(gradient @ direction), public, loss_exp, pool),
        }
        curv_step.send(guest, U, message)
        alpha = _expect_scalar(curv_step.recv(guest, ALPHA), guest, "alpha")
        self.state = CGState(direction, 0.0)
        new_weights: np.ndarray = weights + alpha * direction
        return new_weights


def _encrypt_scalar(
    value: float, public: PaillierPublicKey, exponent: int, pool: ObfuscatorPool
) -> EncryptedArray:
    return encrypt_array(
        np.array([value]), public, precision_bits=exponent, obfuscators=pool.take(1)
    )


def _sum_slopes(
    hosts: Sequence[str], received: list[dict[str, Any]], public: PaillierPublicKey, exponent: int
) -> EncryptedArray:
    """``Enc(sum_k g_k^T p_k)`` over the hosts' checked slope messages."""
    total: EncryptedArray | None = None
    for host, message in zip(hosts, received, strict=True):
        value = expect_encrypted(message.get("slope"), public, (1,), exponent, f"{host} slope")
        total = value if total is None else total + value
    if total is None:
        raise ConfigError("hetero LR needs at least one host (feature party)")
    return total


def _sum_scalars(
    step: Channel, hosts: Sequence[str], key: str, public: PaillierPublicKey, exponent: int
) -> EncryptedArray:
    """The sum of every host's encrypted scalar under ``key``."""
    total: EncryptedArray | None = None
    for host in hosts:
        value = expect_encrypted(step.recv(host, key), public, (1,), exponent, f"{host} {key}")
        total = value if total is None else total + value
    if total is None:
        raise ConfigError("hetero LR needs at least one host (feature party)")
    return total
