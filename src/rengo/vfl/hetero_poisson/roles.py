"""Coordinated hetero Poisson regression: guest and host roles (the coordinator is hetero
LR's, :func:`~rengo.vfl.hetero_lr.roles.hetero_lr_coordinator`, and so are the epochs,
:func:`~rengo.vfl.hetero_lr.roles.guest_epochs` and
:func:`~rengo.vfl.hetero_lr.roles.host_epochs`: this module gives them the chain below).

Poisson regression with the log link: ``mu = exp(u)``, ``u = X_g w_g + b + sum_k X_k w_k``,
loss ``mean(mu - y u)`` (the negative log-likelihood without its ``log y!`` constant),
gradient residual ``d = mu - y``. FATE 1.x (``hetero_poisson``) has its single host send
``Enc(exp(u_h))``, which the guest multiplies by ``exp(u_g)``; we extend that to any number
of hosts with a **multiplicative chain**: host 1 sends ``Enc(exp(u_1))`` to host 2, which
raises it to its own ``exp(u_2)`` (``Enc(a)^k = Enc(k a)``), re-randomises and passes
``Enc(exp(u_1 + u_2))`` on, and so on; the last host sends ``Enc(prod_k exp(u_k))`` to the
guest, which multiplies by ``exp(u_g)`` to get ``Enc(mu)``. There is **no Taylor
approximation**: ``exp`` is computed exactly by every party on its own partial predictor;
the only error is the fixed-point encoding of each factor ``exp(u_k)`` with
``residual_precision_bits`` fractional bits (absolute error ``2^-(p+1)`` per factor, so a
relative error below ``2^-(p+1) / exp(u_k)``: about 1e-10 at p = 32 and |u_k| < 2). Each
factor adds ``p`` fractional bits, so the residual sits at ``(hosts + 1) p`` bits; the guest
checks that the key leaves room for it.

**Scale.** The loss's curvature grows with the counts (its Hessian is
``X^T diag(mu) X / n``): one learning rate cannot suit counts near 1 and near 1000, and Adam,
whose steps are about ``learning_rate`` whatever the gradient, circles an optimum that sharp
(mean counts of 500: deviance 7.9x scikit-learn's when it stopped). So the guest divides the
loss by its mean count ``s`` (the curvature at the best constant model; private to the
guest) and starts the intercept at ``log s``, as scikit-learn's ``PoissonRegressor`` does;
gradient descent on the scaled loss converges at one rate for any count scale. Dividing
costs nothing: the guest closes the chain with ``exp(u_g) / s`` and subtracts ``y / s``.
The L2 term's gradient is divided too: with ``l2 > 0`` the guest sends each host
``Enc(1/s)`` once, and the host adds ``Enc(1/s) * (rows l2 w_k)`` to its encrypted gradient.

**Exposure.** Claim counts are observed over an exposure ``e`` (years insured): the model
is ``mu = e exp(u)``, the GLM with offset ``log e`` (FATE's ``exposure_colname``). The
exposure is the guest's, like its labels: it adds ``log e`` to its own partial predictor,
so it closes the chain with ``exp(u_g) e / s`` and nothing another party sees changes
form. The loss stays ``mean(mu - y log mu)``; its minimiser is scikit-learn's
``PoissonRegressor`` fitted on the frequencies ``y / e`` with ``sample_weight = e`` (the
same likelihood up to a constant), with ``alpha = l2 / mean(e)``. The intercept starts at
the best constant model, ``log(sum y / sum e)``. The scale ``s`` stays the **mean count**
``mean(y)``, not a mean frequency: the curvature at that start is
``X^T diag(e sum(y)/sum(e)) X / n``, whose scale ``mean(e) sum(y) / sum(e)`` is exactly
``mean(y)``. Without an exposure every ``e`` is 1.

Per mini-batch B (messages in the ``"hlr"`` scope, per epoch and batch, like hetero LR):

1. host k: ``u_k = X_k[B] w_k``; the chain as above (``chain`` key); with ``compute_loss``,
   host -> guest ``Enc(u_k)`` (``u``) for the loss's ``- y u`` term;
2. guest: ``Enc(d / s) = Enc(prod exp(u_k)) * exp(u_g) / s - y / s``, re-randomised ->
   hosts;
3. every party: ``Enc(d / s)^T X_k[B]`` masked -> coordinator, which decrypts uniform
   residues (the guest adds its masked ``Enc(sum mu - y u) / s``); every party unmasks and
   steps.

What each role sees: hosts see ciphertexts only (the chain is re-randomised at every hop)
and their own gradient of the scaled loss, never ``s`` nor the exposure; the guest sees
ciphertexts, its own gradient and the batch losses; the coordinator sees uniform residues.
The exposure, like the counts, enters only the guest's ``Enc(d / s)``. Every ciphertext sent
is freshly randomised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.roles import COORDINATOR
from rengo.crypto.dealing import batch_obfuscators
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.keys import PaillierPublicKey
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints
from rengo.vfl.exposure_values import check_exposure
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.exposure import require_no_residual_exposure
from rengo.vfl.hetero_lr.newton import resolve_optimizer
from rengo.vfl.hetero_lr.objective import LabelKind
from rengo.vfl.hetero_lr.resume import check_seed, start_training
from rengo.vfl.hetero_lr.roles import (
    GuestModel,
    GuestSteps,
    HostModel,
    HostSteps,
    U,
    expect_encrypted,
    expect_mapping,
    guest_epochs,
    guest_model,
    host_epochs,
    open_guest_training,
    open_host_training,
    penalty_mask,
    run_batch_seed,
    send_setup,
    setup_lr_scale,
    setup_optimizer,
    start_party_run,
    training_plateau,
    weight_update,
)
from rengo.vfl.progress import ProgressFn

INVERSE_SCALE = "inverse_scale"  # (with l2 > 0, once) guest -> hosts: Enc(1 / mean count)
CHAIN = "chain"  # (per batch) host k -> host k+1 (the last: -> guest): Enc(prod exp(u_j))
MAX_PARTIAL = 40.0  # |u| above this: exp(u) would not fit the fixed-point headroom
HEADROOM_BITS = 80  # bits left for |X^T d| summed over a batch


def obfuscators_per_batch(config: LinearModelConfig, guest: str, party: str, rows: int) -> int:
    """Obfuscators a party uses per batch of ``rows`` (what the coordinator deals): ``rows``
    for the guest's residual; ``rows`` per host for its chain hop, twice with the loss."""
    if party == guest:
        return rows
    return 2 * rows if config.compute_loss else rows


def residual_exponent(config: LinearModelConfig, hosts: int) -> int:
    """Fractional bits of ``Enc(d)``: one ``residual_precision_bits`` per chain factor."""
    return (hosts + 1) * config.residual_precision_bits


def _exp_partial(u: np.ndarray, who: str) -> np.ndarray:
    """``exp(u)``, refusing linear predictors that would overflow the encoding."""
    if not np.isfinite(u).all() or np.abs(u).max(initial=0.0) > MAX_PARTIAL:
        raise DataError(
            f"{who}: a partial linear predictor reached {float(np.abs(u).max()):.3g} "
            f"(limit {MAX_PARTIAL}); standardise the features or lower learning_rate"
        )
    factor: np.ndarray = np.exp(u)
    return factor


def _check_headroom(public: PaillierPublicKey, config: LinearModelConfig, hosts: int) -> None:
    needed = residual_exponent(config, hosts) + config.feature_precision_bits + HEADROOM_BITS
    available = public.n.bit_length() - 2
    if needed > available:
        raise ConfigError(
            f"hetero Poisson with {hosts} hosts at residual_precision_bits="
            f"{config.residual_precision_bits} needs {needed} bits of plaintext, the "
            f"{public.n.bit_length()}-bit key gives {available}: use a larger key_bits or "
            "fewer residual_precision_bits"
        )


def hetero_poisson_guest(
    channel: Channel,
    features: np.ndarray,
    labels: np.ndarray,
    hosts: Sequence[str],
    config: LinearModelConfig,
    *,
    coordinator: str = COORDINATOR,
    seed: int | None = None,
    progress: ProgressFn | None = None,
    checkpoints: EpochCheckpoints | None = None,
    exposure: np.ndarray | None = None,
) -> GuestModel:
    """The label party: closes the chain into ``Enc(mu - y)`` and drives the epochs.

    Parameters
    ----------
    channel
        The guest's channel.
    features, labels
        The aligned rows; labels are counts (non-negative integers).
    hosts
        The feature parties, in chain order.
    config
        The training settings, sent to every other role at set-up.
    coordinator
        The coordinator's role name.
    seed
        Fixes the batch order (else drawn from the OS CSPRNG).
    progress
        Called after every batch and epoch with the epoch's running mean loss.
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch.
    exposure
        Each aligned row's exposure (positive; ``mu = exposure * exp(u)``); it never
        leaves the guest. ``None``: one unit each.

    Returns
    -------
    GuestModel
        The guest's coefficients, intercept and per-epoch losses ``mean(mu - y log mu)``.

    Raises
    ------
    DataError
        If a label is not a count, an exposure is not positive and finite (naming the
        party), or a linear predictor overflows.
    ConfigError
        Without hosts, or when the key leaves no room for the chain's precision.
    ProtocolError
        If another role sends something malformed.
    """
    if not hosts:
        raise ConfigError("hetero Poisson regression needs at least one host (feature party)")
    hlr, public, x, y, fill = open_guest_training(
        channel, features, labels, "count", config, coordinator
    )
    scale = count_scale(y, channel.name)  # private: hosts see only Enc(1/scale)
    exposed = None if exposure is None else check_exposure(exposure, len(x), channel.name)
    offset = None if exposed is None else np.log(exposed)  # u_g + log e closes e exp(u)
    _check_headroom(public, config, len(hosts))
    resumed = start_training(checkpoints, x.shape[1], channel.name)
    batch_seed = run_batch_seed(resumed, seed)
    optimizer = resolve_optimizer(config, len(x), quadratic=False, first_order=POISSON.first_order)
    _, lr_scale = training_plateau(config, optimizer, resumed.losses)  # a resumed run's
    send_setup(hlr, [*hosts, coordinator], config, len(x), batch_seed, hosts, optimizer, lr_scale)
    p_bits = config.residual_precision_bits
    chain_exp = len(hosts) * p_bits
    # what one batch takes from the pool: Enc(d) re-randomised (or dealt), one mask per
    # gradient column and one for the loss
    per_batch = x.shape[1] + (1 if config.compute_loss else 0)
    run = start_party_run(
        hlr, public, config, coordinator, x, optimizer, batch_seed, config.batch_size, resumed,
        per_batch,
    )  # fmt: skip
    if config.fit_intercept and resumed.epochs_run == 0:
        # the best constant model (a resumed run: its own): log(sum y / sum e)
        mean_exposure = 1.0 if exposed is None else float(np.mean(exposed))
        resumed.weights[-1] = np.log(scale / mean_exposure)
    if config.l2 > 0:  # the hosts scale their L2 gradient by 1/scale without learning it
        enc_inverse = encrypt_array(
            np.array([1.0 / scale]),
            public,
            precision_bits=residual_exponent(config, len(hosts)),
            obfuscators=run.pool.take(1),
        )
        for h in hosts:
            hlr.send(h, INVERSE_SCALE, enc_inverse)
    penalised = penalty_mask(x.shape[1], config.fit_intercept) / scale

    def residual(
        step: Channel, yb: np.ndarray, u_guest: np.ndarray
    ) -> tuple[EncryptedArray, Callable[[], EncryptedArray]]:
        """Step 2: ``Enc(d / s)`` from the last host's chain, closed by ``exp(u_g) / s``
        (``u_guest`` carries the batch's ``log e``: ``exp(u_g) e / s``)."""
        chain = expect_encrypted(
            step.recv(hosts[-1], CHAIN), public, (len(yb),), chain_exp, f"{hosts[-1]} chain"
        )
        # Enc(mu / scale) and Enc(d / scale): the residual of the loss divided by scale
        enc_mu = chain.multiply(_exp_partial(u_guest, channel.name) / scale, p_bits)
        return enc_mu - yb / scale, lambda: _batch_loss(
            step, hosts, enc_mu, u_guest, yb / scale, public, p_bits
        )

    update = weight_update(config, x, penalised, optimizer=optimizer)
    weights, losses, epochs_run, converged = guest_epochs(
        run,
        y,
        hosts,
        GuestSteps(residual, update, loss_scale=scale, offset=offset),
        lr_scale,
        progress,
        checkpoints,
    )
    return guest_model(weights, config, losses, epochs_run, converged, fill)


def _batch_loss(
    step: Channel,
    hosts: Sequence[str],
    enc_mu: EncryptedArray,
    u_guest: np.ndarray,
    yb: np.ndarray,
    public: PaillierPublicKey,
    p_bits: int,
) -> EncryptedArray:
    """``Enc(sum_i mu_i - y_i u_i)`` of the batch from ``Enc(mu)`` and the hosts' ``Enc(u_k)``
    (every term at ``enc_mu``'s exponent), or that sum divided by ``s`` from ``Enc(mu / s)``
    and counts ``yb`` already divided by ``s``."""
    rows = len(yb)
    total_u: EncryptedArray | None = None
    for host in hosts:
        message = expect_mapping(step.recv(host, U), host)
        enc_u = expect_encrypted(message.get("u"), public, (rows,), p_bits, f"{host} u")
        total_u = enc_u if total_u is None else total_u + enc_u
    assert total_u is not None
    mu_sum = enc_mu.matmul(np.ones((rows, 1), dtype=np.int64), 0)
    y_u = total_u.matmul(yb[:, None], enc_mu.exponent - p_bits)
    return mu_sum - y_u - np.array([float(yb @ u_guest)])


def hetero_poisson_host(
    channel: Channel,
    features: np.ndarray,
    guest: str,
    *,
    coordinator: str = COORDINATOR,
    progress: ProgressFn | None = None,
    checkpoints: EpochCheckpoints | None = None,
) -> HostModel:
    """A feature party: one hop of the ``exp`` chain per batch, then its own gradient step.

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
        Called after every batch and epoch.
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch.

    Returns
    -------
    HostModel
        Its own weights, which never leave it.

    Raises
    ------
    DataError
        If its row count differs from the guest's, or its partial predictor overflows.
    ProtocolError
        If another role sends something malformed.
    """
    hlr, public, setup, config, x, fill = open_host_training(channel, features, guest, coordinator)
    hosts = [str(h) for h in setup["hosts"]]
    place = hosts.index(channel.name)
    before = hosts[place - 1] if place else None
    after = hosts[place + 1] if place + 1 < len(hosts) else guest
    p_bits = config.residual_precision_bits
    d_exp = residual_exponent(config, len(hosts))
    require_no_residual_exposure(channel.name, x.shape[1], len(x), config.batch_size)
    optimizer = setup_optimizer(setup, config, len(x))
    # what one batch of b rows takes from the pool: the chain hop and, with the loss, Enc(u)
    # (per_row x b, or dealt), one mask per gradient column
    per_row = obfuscators_per_batch(config, guest, channel.name, 1)
    per_batch = x.shape[1]
    resumed = start_training(checkpoints, x.shape[1], channel.name)
    run = start_party_run(
        hlr, public, config, coordinator, x, optimizer, int(setup["seed"]), config.batch_size,
        resumed, per_batch, per_row,
    )  # fmt: skip
    check_seed(resumed, int(setup["seed"]), channel.name)
    lr_scale = setup_lr_scale(setup, guest)
    # Enc(d) is the residual divided by the guest's mean count: the L2 term follows it,
    # added under encryption as Enc(1/scale) * (rows l2 w) (the host never learns the scale)
    inverse_scale = (
        expect_encrypted(hlr.recv(guest, INVERSE_SCALE), public, (1,), d_exp, "inverse scale")
        if config.l2 > 0
        else None
    )

    def forward(step: Channel, u: np.ndarray, rows: np.ndarray) -> None:
        """Step 1: one hop of the chain and, for the loss, ``Enc(u_k)`` -> guest."""
        factor = _exp_partial(u, channel.name)
        count = obfuscators_per_batch(config, guest, channel.name, len(u))
        obfuscators = batch_obfuscators(
            config.obfuscator_source, step, coordinator, run.pool, count
        )
        if before is None:
            chain = encrypt_array(
                factor, public, precision_bits=p_bits, obfuscators=obfuscators[: len(u)]
            )
        else:
            received = expect_encrypted(
                step.recv(before, CHAIN), public, (len(u),), place * p_bits, "chain"
            )
            chain = received.multiply(factor, p_bits).rerandomize(obfuscators[: len(u)])
        step.send(after, CHAIN, chain)
        if config.compute_loss:
            enc_u = encrypt_array(
                u, public, precision_bits=p_bits, obfuscators=obfuscators[len(u) :]
            )
            step.send(guest, U, {"u": enc_u})

    def l2_term(weights: np.ndarray, rows: int) -> EncryptedArray:
        """``Enc(1/s) * (rows l2 w_k)``: the L2 gradient at the residual's scale."""
        assert inverse_scale is not None
        return inverse_scale.multiply(rows * config.l2 * weights, config.feature_precision_bits)

    no_plain_penalty = np.zeros(x.shape[1])
    steps = HostSteps(
        forward,
        d_exp,
        weight_update(config, x, no_plain_penalty, optimizer=optimizer),
        penalty=None if inverse_scale is None else l2_term,
    )
    weights, epochs_run = host_epochs(run, guest, steps, lr_scale, progress, checkpoints)
    return HostModel(weights.copy(), epochs_run, fill)


def poisson_forward(u: np.ndarray) -> np.ndarray:
    """The inverse log link: the predicted mean ``exp(u)``."""
    mean: np.ndarray = np.exp(np.asarray(u, dtype=np.float64))
    return mean


def poisson_batch_loss(u: np.ndarray, y: np.ndarray) -> float:
    """``sum(exp(u) - y u)`` over a batch (plaintext reference of the protocol's loss)."""
    return float(np.sum(np.exp(u) - y * u))


@dataclass(frozen=True)
class PoissonObjective:
    """Poisson regression's loss in plaintext (a
    :class:`~rengo.vfl.hetero_lr.objective.LocalObjective`): ``d = exp(u) - y``,
    ``l = exp(u) - y u``; for training the label party's own columns alone.

    Its first-order steps are gradient descent on the loss divided by the mean count
    (:meth:`gradient_scale`) from the intercept ``log(mean y)`` (:meth:`start_intercept`,
    scikit-learn's ``PoissonRegressor`` starts there too): see the module docstring."""

    name: str = "Poisson"
    labels: LabelKind = "count"
    constant: float = 0.0

    def residual(self, u: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``exp(u) - y``."""
        residual: np.ndarray = np.exp(u) - y
        return residual

    def batch_loss(self, u: np.ndarray, y: np.ndarray) -> float:
        """``sum(exp(u) - y u)``."""
        return poisson_batch_loss(u, y)

    @property
    def first_order(self) -> Literal["sgd", "adam"]:
        """Gradient descent: on the scaled loss one learning rate suits every count scale,
        where Adam's sign-like steps of ``learning_rate`` circle an optimum whose curvature
        grows with the counts."""
        return "sgd"

    def gradient_scale(self, y: np.ndarray) -> float:
        """The mean count, the loss's curvature scale at the best constant model.

        Raises
        ------
        DataError
            If every count is 0 (no model with an intercept fits them).
        """
        return count_scale(y, "label party")

    def start_intercept(self, y: np.ndarray) -> float:
        """``log(mean y)``: the best constant model."""
        return float(np.log(count_scale(y, "label party")))

    def intercept_shift(self, y: np.ndarray) -> float:
        """0: the Poisson loss is exact, its intercept needs no move."""
        return 0.0


def count_scale(counts: np.ndarray, who: str) -> float:
    """The mean count: the label party's private divisor of the Poisson residual.

    Raises
    ------
    DataError
        If every count is 0, naming ``who``.
    """
    mean = float(np.mean(counts)) if len(counts) else 0.0
    if not mean > 0:
        raise DataError(
            f"{who}: every one of the {len(counts)} aligned counts is 0; Poisson regression "
            "needs some non-zero counts"
        )
    return mean


POISSON = PoissonObjective()
"""Poisson regression's plaintext loss (log link)."""


__all__ = [
    "CHAIN",
    "POISSON",
    "PoissonObjective",
    "count_scale",
    "hetero_poisson_guest",
    "hetero_poisson_host",
    "obfuscators_per_batch",
    "poisson_batch_loss",
    "poisson_forward",
    "residual_exponent",
]
