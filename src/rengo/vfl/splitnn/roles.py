"""SplitNN training: the label party's and the feature parties' role functions.

Split learning (Vepakomma et al., "Split learning for health: Distributed deep learning
without sharing raw patient data", 2018; FATE's hetero NN): every party holds a bottom
model of its own columns, the label party also a top model over the concatenated
embeddings. Per mini-batch B (rows in the order every party derives from the batch seed,
:func:`rengo.vfl.common.batch_order`, over PSI's agreed row order):

1. every feature party k: ``e_k = bottom_k(X_k[B])``; feature party -> label party: ``e_k``;
2. label party: ``e_g = bottom_g(X_g[B])``, ``loss = L(top([e_g, e_1, ..., e_K]), y[B])``,
   back-propagates through its top and bottom models and takes an optimizer step;
   label party -> feature party k: ``dL/de_k`` (after the configured defence, see
   :mod:`rengo.vfl.splitnn.leakage`; Marvell's noise depends on each row's label, drawn
   by the label party, which alone knows it);
3. every feature party k back-propagates ``dL/de_k`` through its bottom model and steps.

What each party learns (no cryptography: embeddings and gradients travel in the clear):

* the label party sees every feature party's **plaintext embedding** of every aligned row
  (a learned function of that party's columns: it can be inverted or used to infer feature
  values, more easily the narrower the bottom model); it never sees their columns or
  weights;
* every feature party sees, per row, the **gradient of the loss with respect to its
  embedding**, which leaks the label (Li et al., ICLR 2022: leak AUC near 1.0 undefended;
  measure it with :func:`rengo.vfl.splitnn.leakage.leak_auc`); it never sees labels, the
  other parties' embeddings or the top model;
* every party learns the number of aligned rows, the batch order and the settings (the run
  seed, which fixes the batch order, comes with the plan to every party). A party's initial
  weights and the label party's defence noise come from that party's own seed, which no
  other party learns (:attr:`~rengo.vfl.registry.RoleContext.own_seed`; by default drawn
  from the OS): with them, the label party could invert the first batch's embeddings of a
  feature party into its raw columns, and a feature party could subtract the noise.

Each bottom model reads its party's columns z-scored with the mean and spread of that
party's own training rows (kept in its model, applied to the rows it scores; never sent).

With a validation share (``validation_fraction``), every party derives the same held-out rows
from the run seed and trains on the others; after each epoch every feature party sends its
embeddings of the held-out rows (``held_out_embedding``), from which the label party computes
the validation loss. With early stopping (``n_iter_no_change`` > 0) the label party then tells
each feature party whether training goes on (``go_on``, one bit per epoch, a function of the
labels, as SecureBoost's hosts learn when boosting stops). Class weights
(``class_weight``) stay with the label party: they scale its loss, so the gradients it returns.

The coordinator takes no part in training; the label party tells it when each epoch has
ended and whether training stops (a count and a flag: :mod:`rengo.vfl.splitnn.coordinator`),
so that a deployed run's record follows the epochs.

Messages sit in the ``"splitnn"`` scope of each role's channel, per epoch and batch:
``splitnn/epoch=2/batch=5/embedding`` is feature party -> label party ``e_k``.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.deprecation import REMOVED_IN
from rengo.core.errors import DataError, ProtocolError
from rengo.data import Standardization
from rengo.data.class_weights import class_weights, weigh_rows
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints, require_same_seed, restore_optimizer
from rengo.vfl.common import PartyTable, batch_order, z_scored
from rengo.vfl.divergence import require_finite
from rengo.vfl.early_stopping import should_stop, validation_share, warn_if_never_stopped
from rengo.vfl.progress import ProgressFn, TrainingReporter, batches_per_epoch
from rengo.vfl.splitnn.config import SplitNNConfig
from rengo.vfl.splitnn.leakage import defend_gradients
from rengo.vfl.splitnn.network import (
    Weights,
    bottom_sizes,
    build_mlp,
    init_mlp,
    make_optimizer,
    mlp_weights,
    party_rng,
    require_torch,
    top_sizes,
)
from rengo.vfl.splitnn.resume import restore_noise, save_party, start_party, top_input_order

SCOPE = "splitnn"  # every key below sits in this scope of the role's channel
SETUP = "setup"  # label party -> feature parties: aligned rows, batch seed
EMBEDDING = "embedding"  # (per batch) feature party -> label party: e_k
GRADIENT = "gradient"  # (per batch) label party -> feature party: dL/de_k (defended)
EPOCH_END = "epoch_end"  # (per epoch) label party -> coordinator: epochs done, stopped
HELD_OUT = "held_out_embedding"  # (per epoch, validation share) feature -> label party
GO_ON = "go_on"  # (per epoch, early stopping) label party -> feature parties: train on?

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitNNFeatureModel:
    """What a feature party keeps: its bottom model's weights and the scaling with which it
    reads its columns (never sent anywhere)."""

    bottom: Weights
    epochs_run: int
    inputs: Standardization | None = None
    """The mean and spread of each of its columns over its training rows, with which its
    bottom model reads them z-scored, new rows too (``None``: as given: a model written
    before rengo scaled the inputs)."""


@dataclass(frozen=True)
class SplitNNLabelModel:
    """What the label party keeps: its bottom model (``None`` when it brings no columns),
    the top model, the classes, the feature parties in the top model's input order, the
    mean training loss of every epoch, and the scaling with which its bottom model reads its
    columns."""

    bottom: Weights | None
    top: Weights
    classes: np.ndarray
    task: str
    hosts: tuple[str, ...]
    losses: list[float] = field(default_factory=list)
    epochs_run: int = 0
    batch_seed: int = 0
    inputs: Standardization | None = None
    """The mean and spread of each of its columns over its training rows, with which its
    bottom model reads them z-scored, new rows too (``None``: no bottom model, or as given:
    a model written before rengo scaled the inputs)."""
    validation_losses: list[float] = field(default_factory=list)
    """The loss on the held-out rows after every epoch (empty without a validation
    share)."""


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch, as the label party saw it (for progress reports)."""

    epoch: int
    epochs: int
    loss: float
    validation_loss: float | None = None
    """The loss on the held-out rows (``None`` without a validation share)."""


EpochListener = Callable[[EpochRecord], None]
_LISTENERS: dict[int, EpochListener] = {}
_LISTENERS_LOCK = threading.Lock()


@contextmanager
def listening(table: PartyTable, listener: EpochListener) -> Iterator[None]:
    """Call ``listener`` after every epoch the label party trains on ``table`` (this very
    object) in this process: how an estimator in the same process shows progress without
    anything crossing the channel."""
    with _LISTENERS_LOCK:
        _LISTENERS[id(table)] = listener
    try:
        yield
    finally:
        with _LISTENERS_LOCK:
            _LISTENERS.pop(id(table), None)


def _report(table: PartyTable | None, record: EpochRecord, party: str) -> None:
    _LOG.info("%s: epoch %d/%d, loss %.4f", party, record.epoch, record.epochs, record.loss)
    if table is None:
        return
    with _LISTENERS_LOCK:
        listener = _LISTENERS.get(id(table))
    if listener is not None:
        listener(record)


def as_features(features: np.ndarray, party: str, *, allow_empty: bool = False) -> np.ndarray:
    """``features`` as a finite float32 matrix.

    Raises
    ------
    DataError
        Naming the party: not 2-D, non-finite values or values beyond float32's range (the
        first bad column), or no column where the party needs one.
    """
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2:
        raise DataError(f"{party}: features must be a 2-D array, got shape {matrix.shape}")
    if matrix.shape[1] == 0 and not allow_empty:
        raise DataError(f"{party}: a feature party needs at least one column")
    bad = ~np.isfinite(matrix)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        raise DataError(
            f"{party}: column {column} holds missing or infinite values; "
            "impute or drop them before split learning"
        )
    huge = np.abs(matrix) > np.finfo(np.float32).max
    if huge.any():
        column = int(np.flatnonzero(huge.any(axis=0))[0])
        raise DataError(
            f"{party}: column {column} holds values beyond float32's range (the networks' "
            "precision); scale or standardise the features"
        )
    out: np.ndarray = matrix.astype(np.float32)
    return out


def scaled_features(
    features: np.ndarray, party: str, *, allow_empty: bool = False
) -> tuple[np.ndarray, Standardization | None]:
    """``features`` checked (:func:`as_features`) and z-scored with their own columns' mean
    and spread (:func:`rengo.vfl.common.z_scored`), as float32, and that scaling (``None``
    without columns): how a party's bottom model reads its training rows.

    Raises
    ------
    DataError
        As :func:`as_features`.
    """
    checked = as_features(features, party, allow_empty=allow_empty)
    if checked.shape[1] == 0:
        return checked, None
    x, inputs = z_scored(np.asarray(features, dtype=np.float64))
    out: np.ndarray = x.astype(np.float32)
    return out, inputs


def encode_labels(
    labels: np.ndarray, task: str, party: str, single_class_fix: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, class index per row)`` of the label party's labels.

    Parameters
    ----------
    labels
        One label per row.
    task
        ``"binary"`` or ``"multiclass"``.
    party
        Who holds them (for messages).
    single_class_fix
        What the message for labels of one class suggests (e.g. sharing more rows).

    Raises
    ------
    DataError
        Naming the party: missing labels, a single class (naming it), or a binary task
        without exactly two classes.
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise DataError(f"{party}: labels must be one value per row, got shape {y.shape}")
    missing = _missing_labels(y)
    if missing.any():
        raise DataError(
            f"{party}: labels hold {int(missing.sum())} missing value(s) (first at aligned row "
            f"{int(np.argmax(missing))}); drop those rows"
        )
    try:
        classes, index = np.unique(y, return_inverse=True)
    except TypeError:  # an object column of text and numbers: no order between them
        kinds = sorted({type(v).__name__ for v in y.tolist()})
        raise DataError(
            f"{party}: labels mix kinds ({', '.join(kinds)}); give every label as text or "
            "every label as a number"
        ) from None
    if len(classes) < 2:
        only = classes[0].item() if isinstance(classes[0], np.generic) else classes[0]
        raise DataError(
            f"{party}: all {len(y)} labels are {only!r}, a single class; nothing to learn"
            f"{single_class_fix}"
        )
    if task == "binary" and len(classes) != 2:
        raise DataError(
            f"{party}: task='binary' needs labels of exactly two classes, found "
            f"{len(classes)}; set task='multiclass' for more"
        )
    return classes, index.astype(np.int64)


def _missing_labels(y: np.ndarray) -> np.ndarray:
    """Which labels are missing: NaN or infinite numbers, and ``None`` or NaN in an object
    column (pandas' missing values)."""
    if y.dtype.kind == "f":
        finite: np.ndarray = np.isfinite(y)
        return ~finite
    if y.dtype.kind != "O":
        return np.zeros(len(y), dtype=bool)
    return np.array(
        [v is None or (isinstance(v, float) and not math.isfinite(v)) for v in y.tolist()],
        dtype=bool,
    )


def held_out_rows(seed: int, rows: int, config: SplitNNConfig, name: str = "") -> np.ndarray:
    """The positions of the aligned rows held out for early stopping (``validation_fraction``
    of them, drawn from the run seed, so every party derives the same; empty without a
    validation share). ``name``, the party's, leads an error's message as SecureBoost's.

    Raises
    ------
    DataError
        If no row would be left to train on, or a validation share holds out none (early
        stopping would follow the training loss).
    """
    return np.flatnonzero(validation_share(seed, rows, config.validation_fraction, name))


def training_batches(seed: int, epoch: int, rows: int, config: SplitNNConfig) -> list[np.ndarray]:
    """The positions (among the aligned rows) of every batch of ``epoch``: the rows not held
    out (:func:`held_out_rows`), in :func:`rengo.vfl.common.batch_order` over them; without a
    validation share, ``batch_order(seed, epoch, rows, batch_size)`` itself."""
    held = held_out_rows(seed, rows, config)
    if not len(held):
        return batch_order(seed, epoch, rows, config.batch_size)
    training = np.setdiff1d(np.arange(rows), held)
    return [training[b] for b in batch_order(seed, epoch, len(training), config.batch_size)]


def received_array(value: Any, sender: str, rows: int, width: int, what: str) -> np.ndarray:
    """``value`` if it is a finite float32 ``(rows, width)`` array, else raise."""
    if (
        not isinstance(value, np.ndarray)
        or value.dtype != np.float32
        or value.shape != (rows, width)
    ):
        shape = getattr(value, "shape", type(value).__name__)
        dtype = getattr(value, "dtype", None)
        raise ProtocolError(
            f"{sender} sent a malformed {what}: expected float32 of shape ({rows}, {width}), "
            f"got {shape} {dtype or ''}".rstrip()
        )
    if not np.isfinite(value).all():
        raise ProtocolError(
            f"{sender} sent non-finite values in its {what} (its training diverged, or it "
            "misbehaves)"
        )
    return value


def splitnn_label_party(
    channel: Channel,
    features: np.ndarray,
    labels: np.ndarray,
    hosts: Sequence[str],
    config: SplitNNConfig,
    *,
    seed: int | None = None,
    own_seed: int | None = None,
    table: PartyTable | None = None,
    checkpoints: EpochCheckpoints | None = None,
    progress: ProgressFn | None = None,
    coordinator: str | None = None,
) -> SplitNNLabelModel:
    """The label party: trains its bottom and top models and returns cut-layer gradients.

    Parameters
    ----------
    channel
        The label party's channel.
    features, labels
        Its aligned rows (row k of every party is the same customer) and their labels; it
        may bring no columns (``features`` of shape ``(rows, 0)``). Raw columns: its
        bottom model reads them z-scored over these rows.
    hosts
        The feature parties, in any order: their embeddings are stacked into the top
        model's input, and their gradients' defence noise drawn, in sorted name order, so
        the same seed trains the same model however the plan lists them (a resumed run:
        in its checkpoint's order, :func:`~rengo.vfl.splitnn.resume.top_input_order`).
    config
        The settings (every party has them from the plan).
    seed
        The run seed, which every party knows: the batch order (else drawn fresh).
    own_seed
        Its own seed, which no other party knows: its initial weights and defence noise
        (else drawn fresh from the OS).
    table
        The table ``features`` came from (for in-process progress listeners only).
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch
        (see :mod:`rengo.vfl.splitnn.resume`).
    progress
        Told after every batch, with the epoch's running mean loss (see
        :mod:`rengo.vfl.progress`).
    coordinator
        The coordinator to tell when each epoch has ended (the count and whether training
        stops; :func:`rengo.vfl.splitnn.coordinator.splitnn_coordinator`); None: no one
        (a run without a coordinator).

    Returns
    -------
    SplitNNLabelModel
        Its bottom and top models, classes and per-epoch mean loss.

    Raises
    ------
    DataError
        For bad features or labels (naming the party).
    ProtocolError
        If a feature party sends a malformed embedding.
    """
    torch = require_torch()
    name = channel.name
    given = list(hosts)
    x, scaling = scaled_features(features, name, allow_empty=True)
    shared = (
        f": these are the labels of the rows {name} shares with {', '.join(sorted(given))} "
        "(after PSI); share more rows, or check that every party's IDs are written alike"
    )
    classes, index = encode_labels(labels, config.task, name, shared)
    if len(index) != len(x):
        raise DataError(f"{name}: {len(index)} labels for {len(x)} aligned rows")
    width = config.embedding_dim
    sizes = bottom_sizes(x.shape[1], config.bottom_hidden, width) if x.shape[1] > 0 else None
    inputs = width * (len(hosts) + (1 if sizes is not None else 0))
    outputs = 1 if config.task == "binary" else len(classes)
    widths = top_sizes(inputs, config.top_hidden, outputs)
    resumed = start_party(checkpoints, name, sizes, widths)
    hosts = top_input_order(resumed, given)  # not the plan's order: it must not matter
    batch_seed = secrets.randbits(63) if seed is None else int(seed)
    if resumed is not None:
        batch_seed = resumed.seed
    scope = channel.scope(SCOPE)
    for host in hosts:
        scope.send(host, SETUP, {"rows": len(x), "seed": batch_seed})
    init = party_rng(own_seed, name, "init")
    noise = party_rng(own_seed, name, "noise")
    bottom = None
    if sizes is not None:
        start = init_mlp(sizes, init) if resumed is None else resumed.bottom
        bottom = build_mlp(start, final_relu=True)
    top = build_mlp(init_mlp(widths, init) if resumed is None else resumed.top, final_relu=False)
    params = list(top.parameters()) + ([] if bottom is None else list(bottom.parameters()))
    optimizer = make_optimizer(params, config.optimizer, config.learning_rate)
    losses: list[float] = []
    validation_losses: list[float] = []
    first, stopped = 0, False
    if resumed is not None:
        restore_optimizer(optimizer, resumed.optimizer)
        restore_noise(noise, resumed.noise)
        losses, first = list(resumed.losses), resumed.epochs_run
        validation_losses, stopped = list(resumed.validation_losses), resumed.stopped
    held = held_out_rows(batch_seed, len(x), config, name)
    training = np.setdiff1d(np.arange(len(x)), held)
    if resumed is None:
        fraction = config.validation_fraction
        warn_if_never_stopped(name, fraction, len(held), len(x), config.n_iter_no_change)
    weights = class_weights(index[training], config.class_weight, name, len(classes))
    row_weights = (
        None if weights is None else torch.from_numpy(weigh_rows(index, weights).astype(np.float32))
    )
    xt = torch.from_numpy(x)
    positive = index == 1  # Marvell's noise depends on the row's class (binary only)
    reduction = "mean" if row_weights is None else "none"
    if config.task == "binary":
        yt = torch.from_numpy(index.astype(np.float32))
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction=reduction)
    else:
        yt = torch.from_numpy(index)
        loss_fn = torch.nn.CrossEntropyLoss(reduction=reduction)

    def mean_loss(embedded: list[Any], rows: np.ndarray) -> Any:
        """The mean (class-weighted) loss of ``rows`` from their embeddings."""
        index_t = torch.from_numpy(rows)
        parts = ([] if bottom is None else [bottom(xt[index_t])]) + embedded
        logits = top(torch.cat(parts, dim=1))
        if config.task == "binary":
            logits = logits[:, 0]
        if row_weights is None:
            return loss_fn(logits, yt[index_t])
        return (loss_fn(logits, yt[index_t]) * row_weights[index_t]).mean()

    reporter = TrainingReporter(
        progress, name, config.epochs, batches_per_epoch(len(training), config.batch_size)
    )
    if stopped and coordinator is not None:  # resumed after stopping early: tell it so
        scope.scope(epoch=first).send(coordinator, EPOCH_END, {"epochs": first, "stopped": True})
    for epoch in range(first, first if stopped else config.epochs):
        this_epoch = scope.scope(epoch=epoch)
        total, seen = 0.0, 0
        for batch, rows in enumerate(training_batches(batch_seed, epoch, len(x), config)):
            step = this_epoch.scope(batch=batch)
            received = [
                received_array(step.recv(h, EMBEDDING), h, len(rows), width, "embedding")
                for h in hosts
            ]
            leaves = [torch.from_numpy(e.copy()).requires_grad_(True) for e in received]
            loss = mean_loss(leaves, rows)
            optimizer.zero_grad()
            loss.backward()
            lr = config.learning_rate
            require_finite([loss.detach().numpy()], name, "loss", epoch, batch, lr)
            for host, leaf in zip(hosts, leaves, strict=True):
                exact = leaf.grad.detach().numpy()
                require_finite([exact], name, "cut-layer gradients", epoch, batch, lr)
                sent = defend_gradients(
                    exact, config.defense, config.noise_scale, noise, positive=positive[rows]
                )
                step.send(host, GRADIENT, sent)
            optimizer.step()
            total += float(loss.detach()) * len(rows)
            seen += len(rows)
            reporter.batch(epoch, batch, total / seen)
        losses.append(total / len(training))
        if len(held):
            held_embeddings = [
                torch.from_numpy(
                    received_array(
                        this_epoch.recv(h, HELD_OUT), h, len(held), width, "held-out embedding"
                    ).copy()
                )
                for h in hosts
            ]
            with torch.no_grad():
                validation_losses.append(float(mean_loss(held_embeddings, held)))
        history = validation_losses if len(held) else losses
        stopped = epoch + 1 == config.epochs or should_stop(
            history, config.n_iter_no_change, config.tol
        )
        if config.n_iter_no_change > 0:
            for host in hosts:
                this_epoch.send(host, GO_ON, not stopped)
        save_party(
            checkpoints,
            epoch + 1,
            optimizer,
            bottom=None if bottom is None else mlp_weights(bottom),
            top=mlp_weights(top),
            seed=batch_seed,
            losses=losses,
            noise=noise,
            hosts=hosts,
            validation_losses=validation_losses,
            stopped=stopped,
        )
        held_loss = validation_losses[-1] if len(held) else None
        _report(table, EpochRecord(epoch + 1, config.epochs, losses[-1], held_loss), name)
        reporter.epoch_end(epoch, losses[-1], stop=stopped, validation_loss=held_loss)
        if coordinator is not None:  # after the checkpoint: the coordinator's is never ahead
            notice = {"epochs": epoch + 1, "stopped": stopped}
            this_epoch.send(coordinator, EPOCH_END, notice)
        if stopped:
            break
    return SplitNNLabelModel(
        None if bottom is None else mlp_weights(bottom),
        mlp_weights(top),
        classes,
        config.task,
        tuple(hosts),
        losses,
        len(losses),
        batch_seed,
        scaling,
        validation_losses,
    )


def splitnn_feature_party(
    channel: Channel,
    features: np.ndarray,
    label_party: str,
    config: SplitNNConfig,
    *,
    own_seed: int | None = None,
    checkpoints: EpochCheckpoints | None = None,
    progress: ProgressFn | None = None,
    seed: int | None = None,
) -> SplitNNFeatureModel:
    """A feature party: sends its embeddings, back-propagates the gradients it gets back.

    Parameters
    ----------
    channel
        Its channel.
    features
        Its aligned rows (row k is the label party's row k); raw columns: its bottom model
        reads them z-scored over these rows.
    label_party
        The label party.
    config
        The settings (from the plan).
    own_seed
        Its own seed, which no other party knows: its initial weights (else drawn fresh
        from the OS).
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch
        (see :mod:`rengo.vfl.splitnn.resume`).
    progress
        Told after every batch (see :mod:`rengo.vfl.progress`).
    seed
        Deprecated (removed in 0.3) and ignored, with a DeprecationWarning: it made the
        initial weights, which must not come from the run seed every party knows.

    Returns
    -------
    SplitNNFeatureModel
        Its bottom model, which never leaves it.

    Raises
    ------
    DataError
        For bad features, or a row count that differs from the label party's.
    ProtocolError
        If the label party sends a malformed set-up or gradient.
    """
    if seed is not None:
        warnings.warn(
            f"splitnn_feature_party(seed=...) is deprecated and removed in {REMOVED_IN}, and "
            "no longer makes this party's initial weights: the run seed, which every party "
            "knows, would give them to the label party. They come from own_seed=... (this "
            "party's own, never sent), else the OS",
            DeprecationWarning,
            stacklevel=2,
        )
    torch = require_torch()
    name = channel.name
    x, scaling = scaled_features(features, name)
    scope = channel.scope(SCOPE)
    setup = scope.recv(label_party, SETUP)
    if not isinstance(setup, dict) or set(setup) != {"rows", "seed"}:
        raise ProtocolError(f"{label_party} sent a malformed split-learning set-up")
    if int(setup["rows"]) != len(x):
        raise DataError(f"{name} holds {len(x)} aligned rows, {label_party} {setup['rows']}")
    width = config.embedding_dim
    sizes = bottom_sizes(x.shape[1], config.bottom_hidden, width)
    resumed = start_party(checkpoints, name, sizes)
    batch_seed = int(setup["seed"])
    require_same_seed(None if resumed is None else resumed.seed, batch_seed, name, label_party)
    start = (
        init_mlp(sizes, party_rng(own_seed, name, "init")) if resumed is None else resumed.bottom
    )
    bottom = build_mlp(start, final_relu=True)
    optimizer = make_optimizer(bottom.parameters(), config.optimizer, config.learning_rate)
    if resumed is not None:
        restore_optimizer(optimizer, resumed.optimizer)
    xt = torch.from_numpy(x)
    held = held_out_rows(batch_seed, len(x), config, name)
    reporter = TrainingReporter(
        progress, name, config.epochs, batches_per_epoch(len(x) - len(held), config.batch_size)
    )
    first = 0 if resumed is None else resumed.epochs_run
    stopped = resumed is not None and resumed.stopped
    epochs_run = first
    for epoch in range(first, first if stopped else config.epochs):
        this_epoch = scope.scope(epoch=epoch)
        for batch, rows in enumerate(training_batches(batch_seed, epoch, len(x), config)):
            step = this_epoch.scope(batch=batch)
            embedding = bottom(xt[torch.from_numpy(rows)])
            sent = embedding.detach().numpy().copy()
            require_finite([sent], name, "embeddings", epoch, batch, config.learning_rate)
            step.send(label_party, EMBEDDING, sent)
            gradient = received_array(
                step.recv(label_party, GRADIENT), label_party, len(rows), width, "gradient"
            )
            optimizer.zero_grad()
            embedding.backward(torch.from_numpy(gradient.copy()))
            optimizer.step()
            reporter.batch(epoch, batch)
        if len(held):
            with torch.no_grad():
                held_embedding = bottom(xt[torch.from_numpy(held)]).numpy().copy()
            require_finite([held_embedding], name, "embeddings", epoch, 0, config.learning_rate)
            this_epoch.send(label_party, HELD_OUT, held_embedding)
        stopped = epoch + 1 == config.epochs
        if config.n_iter_no_change > 0:
            go_on = this_epoch.recv(label_party, GO_ON)
            if not isinstance(go_on, bool):
                raise ProtocolError(
                    f"{label_party} sent a malformed word on whether training goes on: "
                    f"{type(go_on).__name__}, not a bool"
                )
            stopped = stopped or not go_on
        epochs_run = epoch + 1
        save_party(
            checkpoints,
            epoch + 1,
            optimizer,
            bottom=mlp_weights(bottom),
            seed=batch_seed,
            stopped=stopped,
        )
        reporter.epoch_end(epoch, None, stop=stopped)
        if stopped:
            break
    return SplitNNFeatureModel(mlp_weights(bottom), epochs_run, scaling)
