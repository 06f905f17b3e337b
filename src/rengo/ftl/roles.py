"""Secure federated transfer learning: the source's, the target's and the organiser's roles.

The protocol of Liu, Kang, Xing, Chen and Yang, "A Secure Federated Transfer Learning
Framework" (IEEE Intelligent Systems 2020, Section "Secure FTL" and Fig. 2), two parties and
no trusted third party. The source A (the label party of the vertical runner) holds labels
for all its rows; the target B (its feature party) holds a few or none. Private set
intersection has put the rows both hold (the overlap) in one agreed order. Each party has its
own Paillier key pair (``security = "homomorphic"``); ``[[x]]_A`` is x under A's key. The
math is :mod:`rengo.ftl.math`. Per batch of n shared rows (``m`` rows of the target's own
labels ride along):

1. A: ``Phi`` over all its rows, ``c`` and ``M = Phi^T Phi``;
   A -> B: ``[[c]]_A``, ``[[M]]_A`` (and ``[[Phi]]_A`` when B has labels);
2. B: ``U_B`` of the batch, ``W``, ``R`` and ``q``;
   B -> A: ``[[U_B]]_B``, ``[[W]]_B``, ``[[R]]_B``, ``[[q]]_B``;
3. B: ``[[g_B]]_A = vec(c) J_B + vec(M) K_M + vec(Phi) K_Phi + plain_B`` from its own
   plaintext Jacobians; A: ``[[g_A]]_B = vec(dL/dPhi) J_Phi + vec(U_B) J_A' + plain_A`` and
   the batch loss ``[[L]]_B``;
4. each party masks its encrypted gradient with a one-time pad in Z_n
   (:mod:`rengo.crypto.masking`) and sends it to the other party, which decrypts the masked
   residues (uniform noise to it) and sends them back; each removes its mask;
5. each party takes an optimizer step on its own encoder. With ``local_steps > 1`` (the
   communication-efficient variant) steps 3-5 repeat on the components of steps 1-2, each
   party recomputing its own terms from its updated encoder.

Each party's encoder reads its columns z-scored with the mean and spread of its own rows
(kept in its model, applied to the rows it scores; never sent); a module the party brought
reads them as given.

After each epoch A tells the coordinator the epoch's loss (for the run record). With
``validation_fraction`` > 0, B then scores its held-out labelled rows through the prediction
protocol and tells the coordinator their loss, AUC and accuracy; with early stopping the
deciding party (B on the held-out loss, else A on the training loss) tells the other whether
the epoch is the best so far and whether training stops (:mod:`rengo.ftl.validation`). At the
end A keeps its encoder and the translator ``Phi``; B keeps its encoder (with early stopping,
both as they were after the best epoch).

What each party learns: A sees ciphertexts under B's key, the masked residues of B's
gradient, its own gradient and the loss; B sees ciphertexts under A's key, the masked
residues of A's gradient and its own gradient; with a validation share B also learns the
scores of its held-out rows (as scoring them would tell it), and with early stopping each
party learns per epoch whether it was the best and whether training stops. As in the paper,
a party's gradient is a sum over the batch of its Jacobians times the other's terms; a party
whose encoder has more parameters than ``batch_size * dim`` could solve that sum for the
per-row terms, so keep ``batch_size * dim`` above the encoders' sizes where that matters:
each party tells the other its encoder's size at set-up, and each warns
(:class:`~rengo.ftl.exposure.GradientExposureWarning`) when the other's encoder is that
large for its smallest batch. Training cuts whole batches (the remainder joins the last), so
no batch is smaller than ``batch_size``; the defaults, ``batch_size`` 128 and ``dim`` 8,
give 1,024 terms a batch, more than the 616 and 712 parameters of the default 32-wide
encoders over 10 and 13 columns. The coordinator learns the loss per epoch (and, with a
validation share, the held-out rows' loss, accuracy and AUC). No raw feature, label or
representation leaves a party in the clear (``security = "plaintext"`` sends the same
components unencrypted: parties that trust each other see each other's representations of
the shared rows and label-weighted sums).
Every ciphertext sent is fresh (a new encryption or a masked one). The seed in the set-up
fixes only public choices (batch order, held-out rows); each encoder's initial weights come
from its party's own seed, which the peer never learns (by default drawn from the OS), so
neither party knows the other's encoder at any step.

Messages sit in the ``"ftl"`` scope of each role's channel:
``ftl/epoch=2/batch=0/source-terms`` is A -> B's components of batch 0 of epoch 2.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.core.roles import COORDINATOR
from rengo.crypto.encrypted_array import EncryptedArray, encrypt_array
from rengo.crypto.fixed_point import FixedPointOverflowError
from rengo.crypto.keys import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair
from rengo.crypto.masking import decrypt_masked, mask_encrypted, unmask
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.randomness import random_source
from rengo.data import Standardization
from rengo.ftl.assembly import Terms, source_gradient, source_loss, target_gradient
from rengo.ftl.config import TransferConfig, parse_hidden
from rengo.ftl.exposure import GradientExposureWarning, gradient_exposure, mlp_parameter_count
from rengo.ftl.math import (
    LossWeights,
    class_order,
    label_codes,
    label_names,
    source_gradient_matrices,
    source_terms,
    target_gradient_matrices,
    target_terms,
    translator,
)
from rengo.ftl.resume import (
    CoordinatorResume,
    restore_party,
    save_party,
    save_record,
    start_party,
    start_record,
)
from rengo.ftl.validation import (
    DECISION,
    SCORES,
    VALIDATION,
    Decision,
    decide,
    held_out,
    scores_from_wire,
    validation_scores,
)
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints, require_same_seed
from rengo.vfl.common import batch_order, whole_batches, z_scored
from rengo.vfl.divergence import diverged, require_finite
from rengo.vfl.early_stopping import best_epoch, should_stop
from rengo.vfl.progress import ProgressFn, TrainingReporter

SCOPE = "ftl"
SETUP = "setup"  # A -> B and B -> A: classes / labelled flag, rows, public key, seed, encoder size
SOURCE_TERMS = "source-terms"  # (per batch) A -> B: [[c]], [[M]], [[Phi]]
TARGET_TERMS = "target-terms"  # (per batch) B -> A: [[U_B]], [[W]], [[R]], [[q]]
MASKED = "masked"  # (per local step) each -> the other: its masked gradient (A: and loss)
UNMASKED = "unmasked"  # (per local step) each -> the other: the decrypted masked residues
LOSS = "loss"  # (per epoch) A -> coordinator: the epoch's mean batch loss
SOURCE_SEED, TARGET_SEED, TARGET_LABEL_SEED = 0x50, 0x7A, 0x7B

Keypair = tuple[PaillierPublicKey, PaillierPrivateKey]


CUSTOM = "custom"
"""The :class:`EncoderSpec` activation of an encoder the party brought (not rebuilt)."""


@dataclass(frozen=True)
class EncoderSpec:
    """How a party's encoder is built: its input columns, hidden widths, activation and the
    representation size (enough to rebuild it from its weights; ``activation = "custom"``
    for a module the party brought, which its model keeps)."""

    in_features: int
    hidden: tuple[int, ...]
    activation: str
    dim: int


@dataclass(frozen=True)
class SourceModel:
    """What the source keeps: its encoder's weights, the translator ``Phi`` (C x d) and the
    class names, with the loss of every epoch. None of it is ever sent; the target can compute
    ``Phi`` from ``dim`` of its own scored rows (see :mod:`rengo.ftl.predict`)."""

    encoder: EncoderSpec
    weights: list[np.ndarray]
    phi: np.ndarray
    classes: tuple[str, ...]
    objective: str
    losses: list[float] = field(default_factory=list)
    epochs_run: int = 0
    best_epoch: int = 0
    inputs: Standardization | None = None
    """The mean and spread of each of its columns over its rows, with which its encoder
    reads them z-scored (``None``: as given: a module the party brought)."""


@dataclass(frozen=True)
class TargetModel:
    """What the target keeps: its encoder's weights and the class names the source named,
    with its held-out rows' scores per epoch (``validation_fraction`` > 0) and the best
    epoch (1-based; 0 without validation or early stopping). Scoring new rows needs the
    source's translator, through the prediction protocol."""

    encoder: EncoderSpec
    weights: list[np.ndarray]
    classes: tuple[str, ...]
    objective: str
    labelled_rows: int = 0
    epochs_run: int = 0
    validation: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    inputs: Standardization | None = None
    """The mean and spread of each of its columns over its training rows, with which its
    encoder reads them z-scored, new rows too (``None``: as given: a module the party
    brought)."""

    @property
    def validation_losses(self) -> list[float]:
        """The held-out loss after each epoch (empty without a validation share)."""
        return [scores["loss"] for scores in self.validation]


@dataclass(frozen=True)
class TransferReport:
    """What the coordinator saw: the loss of every epoch, and the held-out scores the target
    reported (``validation_fraction`` > 0)."""

    losses: list[float]
    epochs_run: int
    validation: list[dict[str, float]] = field(default_factory=list)

    @property
    def validation_losses(self) -> list[float]:
        """The held-out loss after each epoch (empty without a validation share)."""
        return [scores["loss"] for scores in self.validation]

    @property
    def best_epoch(self) -> int:
        """The epoch (1-based) of the lowest held-out loss, else of the lowest training
        loss (0: no epoch)."""
        return best_epoch(self.validation_losses or self.losses)


def encoder_module(model: SourceModel | TargetModel) -> Any:
    """The trained encoder of ``model``: the module the party brought, or the MLP its spec
    describes, loaded with the trained weights.

    Raises
    ------
    DataError
        If a custom encoder's module is missing (a model rebuilt from its fields alone).
    """
    from rengo.ftl import encoders as enc

    module = getattr(model, "_module", None)
    if module is None:
        spec = model.encoder
        if spec.activation == CUSTOM:
            raise DataError("this model's encoder was the party's own module, which is missing")
        module = enc.build_encoder(spec.in_features, spec.hidden, spec.dim, spec.activation, [0])
    return enc.load_parameter_arrays(module, model.weights)


ModelT = TypeVar("ModelT", "SourceModel", "TargetModel")


def _keep_module(model: ModelT, module: Any, custom: bool) -> ModelT:
    """Attach a party's own encoder module to its model (not a field: it stays local)."""
    if custom:
        object.__setattr__(model, "_module", module)
    return model


# -- shared pieces ----------------------------------------------------------------------------


def _features(features: np.ndarray, who: str) -> np.ndarray:
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or not np.isfinite(matrix).all():
        raise DataError(f"{who}: features must be a finite 2-D array, got shape {matrix.shape}")
    if matrix.shape[1] == 0:
        raise DataError(
            f"{who}: its table has no feature column; each party's encoder needs at least one"
        )
    return matrix


def _encoder_inputs(x: np.ndarray, custom: bool) -> tuple[np.ndarray, Standardization | None]:
    """The columns the encoder reads and their scaling: the MLPs rengo builds read each
    column z-scored with this party's own rows (tanh saturates on raw columns in the
    thousands); a module the party brought reads them as given."""
    if custom:
        return x, None
    return z_scored(x)


def _mapping(value: Any, sender: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{sender} sent {type(value).__name__} as {what}, expected a mapping")
    return value


def _expect(
    value: Any,
    key: PaillierPublicKey | None,
    shape: tuple[int, ...],
    exponent: int,
    what: str,
) -> Terms:
    """``value`` if it is a term of the right kind (encrypted under ``key``, or plaintext when
    ``key`` is None), shape and scale; else a :class:`ProtocolError` naming it."""
    if key is None:
        if not isinstance(value, np.ndarray) or value.dtype != np.float64:
            raise ProtocolError(f"{what}: expected a float64 array, got {type(value).__name__}")
        if value.shape != shape or not np.isfinite(value).all():
            raise ProtocolError(f"{what}: expected finite values of shape {shape}")
        return value
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


def expected_masks(
    config: TransferConfig, rows: int, parameters: int, epochs: int, *, loss: bool
) -> int:
    """How many obfuscators a party's pool for its peer's key makes in ``epochs`` epochs over
    ``rows`` shared rows (it sizes the pool's fixed-base table): in every batch the peer
    opens the party's gradient (one mask per encoder parameter) after each of
    ``local_steps`` steps and, for the source (``loss``), the batch's loss once."""
    batches = whole_batches(rows, config.batch_size)
    return max(0, epochs) * batches * (config.local_steps * parameters + (1 if loss else 0))


def expected_seals(config: TransferConfig, rows: int, epochs: int) -> int:
    """About how many values a party encrypts under its own key in ``epochs`` epochs over
    ``rows`` shared rows (it sizes its own pool's fixed-base table): per batch its
    representations of the batch's rows (``rows x dim`` over the epoch) and a few
    ``dim x dim`` terms."""
    batches = whole_batches(rows, config.batch_size)
    return max(0, epochs) * (rows * config.dim + batches * (config.dim + 2) * config.dim)


def _pools(
    keys: Keypair | None,
    peer_key: PaillierPublicKey | None,
    config: TransferConfig,
    masks: int,
    seals: int,
) -> tuple[ObfuscatorPool | None, ObfuscatorPool | None]:
    """A party's two obfuscator pools (``None`` in plaintext mode): for encrypting about
    ``seals`` values under its own key (:func:`expected_seals`) and for masking values under
    the peer's, sized for ``masks`` obfuscators (:func:`expected_masks`). Both make the
    configured scheme's randomness, as SecureBoost's key-holding label party does; a party
    asked for full ``r^n`` computes its own by CRT with its private key."""
    own = None
    if keys is not None:
        own = ObfuscatorPool.for_key_holder(
            keys[0],
            keys[1],
            config.obfuscator_scheme,
            processes=config.obfuscator_processes,
            expected_count=seals,
        )
    if peer_key is None:
        return own, None
    peer = ObfuscatorPool.for_encryptor(
        peer_key,
        config.obfuscator_scheme,
        processes=config.obfuscator_processes,
        expected_count=masks,
    )
    return own, peer


def _primed_pools(
    keys: Keypair | None,
    peer_key: PaillierPublicKey | None,
    config: TransferConfig,
    rows: int,
    parameters: int,
    epochs: int,
    *,
    loss: bool,
) -> tuple[ObfuscatorPool | None, ObfuscatorPool | None]:
    """A party's two pools (:func:`_pools`) for ``epochs`` more epochs over ``rows`` shared
    rows, sized by :func:`expected_masks` / :func:`expected_seals` (``loss``: the party
    opens a loss too) and already filling the first batch's share in the background."""
    masks = expected_masks(config, rows, parameters, epochs, loss=loss)
    seals = expected_seals(config, rows, epochs)
    own_pool, peer_pool = _pools(keys, peer_key, config, masks, seals)
    uses = epochs * whole_batches(rows, config.batch_size)  # batches still to run
    _prime(own_pool, seals, uses)
    _prime(peer_pool, masks, uses * config.local_steps)
    return own_pool, peer_pool


def _prime(pool: ObfuscatorPool | None, expected: int, uses: int) -> None:
    """Start the offline phase: make one use's share of ``expected`` obfuscators in the
    background while the party does its plaintext work (the first batch's terms)."""
    if pool is not None and expected > 0 and uses > 0:
        pool.fill_in_background(-(-expected // uses))


def _refill(pool: ObfuscatorPool | None, more_to_come: bool) -> None:
    """The offline phase between uses: while this party waits for its peer, make again in
    the background what the use just took (the next batch or step takes about as many);
    nothing after the run's last use, so no fill is left running when the role ends."""
    if pool is not None and more_to_come:
        pool.replenish_in_background()


def _close(*pools: ObfuscatorPool | None) -> None:
    """Stop the pools' background threads and worker processes."""
    for pool in pools:
        if pool is not None:
            pool.close()


def _seal(
    values: Mapping[str, np.ndarray], keys: Keypair | None, bits: int, pool: ObfuscatorPool | None
) -> dict[str, Terms]:
    """Encrypt each value under the party's own key (plaintext mode: send as they are)."""
    if keys is None:
        return {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}
    assert pool is not None
    return {
        name: encrypt_array(v, keys[0], precision_bits=bits, pool=pool)
        for name, v in values.items()
    }


def _open(
    step: Channel,
    peer: str,
    own: Mapping[str, Terms],
    keys: Keypair | None,
    peer_pool: ObfuscatorPool | None,
) -> dict[str, np.ndarray]:
    """Steps 4 of the protocol: have the peer decrypt ``own`` (encrypted under its key)
    through one-time pads, while decrypting its masked values under ours.

    In plaintext mode ``own`` is already in the clear and nothing is exchanged.
    """
    if keys is None:
        return {name: np.asarray(v, dtype=np.float64) for name, v in own.items()}
    assert peer_pool is not None
    rng = random_source(None)
    masked, masks = {}, {}
    for name, value in own.items():
        assert isinstance(value, EncryptedArray)
        masked[name], masks[name] = mask_encrypted(value, rng, peer_pool)
    step.send(peer, MASKED, masked)
    theirs = _mapping(step.recv(peer, MASKED), peer, "masked values")
    reply = {}
    for name, value in theirs.items():
        if not isinstance(value, EncryptedArray) or value.public_key != keys[0]:
            raise ProtocolError(f"{peer}: masked {name!r} is not under this party's key")
        reply[name] = decrypt_masked(value, keys[1])
    step.send(peer, UNMASKED, reply)
    returned = _mapping(step.recv(peer, UNMASKED), peer, "decrypted residues")
    if set(returned) != set(own):
        raise ProtocolError(f"{peer} returned {sorted(returned)} for {sorted(own)}")
    peer_key = next(iter(masked.values())).public_key
    return {name: unmask(returned[name], masks[name], peer_key) for name in own}


def _setup(
    channel: Channel, peer: str, mine: dict[str, Any], homomorphic: bool
) -> tuple[dict[str, Any], PaillierPublicKey | None]:
    """Send this party's set-up, receive the peer's and check its public key."""
    channel.send(peer, SETUP, mine)
    theirs = _mapping(channel.recv(peer, SETUP), peer, "its set-up")
    key = theirs.get("public_key")
    if homomorphic and not isinstance(key, PaillierPublicKey):
        raise ProtocolError(f"{peer} sent no Paillier public key for homomorphic mode")
    if not homomorphic and key is not None:
        raise ProtocolError(f"{peer} sent a public key, but the plan says plaintext mode")
    if int(theirs.get("rows", -1)) != int(mine["rows"]):
        raise DataError(
            f"{channel.name} holds {mine['rows']} shared rows, {peer} holds {theirs.get('rows')}"
        )
    return theirs, key


def _encoder_spec(x: np.ndarray, hidden: str, config: TransferConfig, custom: bool) -> EncoderSpec:
    """How a party's encoder is built: the config's MLP, or the module it brought."""
    return EncoderSpec(
        x.shape[1],
        () if custom else parse_hidden(hidden),
        CUSTOM if custom else config.activation,
        config.dim,
    )


def _encoder_parameters(spec: EncoderSpec, encoder: Any, who: str) -> int:
    """Trainable scalars of the encoder ``spec`` describes (or of the module brought)."""
    if encoder is None:
        return mlp_parameter_count(spec.in_features, spec.hidden, spec.dim)
    from rengo.ftl import encoders as enc

    return enc.parameter_count(enc.check_encoder(encoder, spec.in_features, spec.dim, who))


def _warn_exposure(
    party: str, peer: str, theirs: Mapping[str, Any], rows: int, config: TransferConfig
) -> None:
    """Warn when the peer's encoder (its set-up's ``parameters``) could solve the gradient it
    decrypts for this party's per-row terms (:func:`rengo.ftl.exposure.gradient_exposure`)."""
    size = theirs.get("parameters")
    if isinstance(size, bool) or not isinstance(size, int):
        return
    problem = gradient_exposure(party, peer, size, rows, config)
    if problem is not None:
        warnings.warn(f"{party}: {problem}", GradientExposureWarning, stacklevel=2)


def _overflowed(
    party: str, epoch: int, batch: int, config: TransferConfig, exc: FixedPointOverflowError
) -> Exception:
    """A fixed-point overflow in training, named as the divergence it almost always is."""
    what = (
        f"values outgrew the fixed-point range of the ciphertexts ({exc}); if the learning "
        f"rate is modest, lower precision_bits (now {config.precision_bits}) instead"
    )
    return diverged(party, what, epoch, batch, config.learning_rate)


def batch_weights(config: TransferConfig, n: int, m: int) -> LossWeights:
    """The loss's weights for a batch of ``n`` shared and ``m`` target-labelled rows."""
    return LossWeights(
        config.prediction_weight,
        config.target_label_weight,
        config.alignment_weight,
        config.l2,
        n,
        m,
        config.objective == "binary",
    )


def _own(own_seed: int | None, salt: int) -> list[int]:
    """The seed of a party's encoder's initial weights: its own seed (never the run's, which
    the set-up sends the peer: with the peer's initial weights, a party could invert the
    representations, or solve its gradient for them), else fresh from the OS."""
    return [secrets.randbits(63) if own_seed is None else int(own_seed), salt]


def target_label_batches(seed: int, epoch: int, labelled: int, batches: int) -> list[np.ndarray]:
    """The target's labelled rows of each batch of ``epoch``: a permutation (from the run's
    seed) cut into as many parts as there are batches of shared rows."""
    order = np.random.default_rng([seed, epoch, TARGET_LABEL_SEED]).permutation(labelled)
    return np.array_split(order, batches)


# -- the source (A, the label party) ------------------------------------------------------------


def ftl_source(
    channel: Channel,
    features: np.ndarray,
    labels: Any,
    rows: np.ndarray,
    config: TransferConfig,
    target: str,
    *,
    keys: Keypair | None = None,
    coordinator: str = COORDINATOR,
    seed: int | None = None,
    own_seed: int | None = None,
    encoder: Any = None,
    checkpoints: EpochCheckpoints | None = None,
    progress: ProgressFn | None = None,
) -> SourceModel:
    """The source: its encoder, the translator, and the terms only its labels give.

    Parameters
    ----------
    channel
        The source's channel.
    features, labels
        Every row of its table (all of them form the translator) and one label per row;
        raw columns (the built encoder reads them z-scored over these rows).
    rows
        Its rows of the overlap, in PSI's agreed order (row k is the target's row k).
    config
        The training settings (the plan's).
    target
        The target party's name.
    keys
        Its Paillier key pair (homomorphic mode; made here when None).
    coordinator
        The coordinator's role name.
    seed
        The run seed, which every party knows: fixes the batch order (else drawn here) and
        which target rows are held out, and goes to the target at set-up.
    own_seed
        Its own seed, which the target never learns: its encoder's initial weights (else
        drawn from the OS).
    encoder
        A torch module to train instead of the MLP the config describes.
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch
        (see :mod:`rengo.ftl.resume`).
    progress
        Told after every batch and epoch (see :class:`~rengo.vfl.TrainingReporter`).

    Returns
    -------
    SourceModel
        Its encoder's weights, the translator and the loss per epoch.

    Raises
    ------
    DataError
        For a missing label, too few classes for the objective, or a row count the target
        does not share.
    ProtocolError
        If the target sends something malformed.
    """
    from rengo.ftl import encoders as enc
    from rengo.ftl.predict import ftl_predict_source

    x = _features(features, channel.name)
    names = label_names(labels)
    if len(names) != len(x):
        raise DataError(f"{channel.name}: {len(names)} labels for {len(x)} rows")
    if any(n is None for n in names):
        raise DataError(f"{channel.name}: the source needs a label on every row")
    classes = class_order([n for n in names if n is not None])
    binary = config.objective == "binary"
    if len(classes) < 2 or (binary and len(classes) != 2):
        want = "exactly 2" if binary else "at least 2"
        fix = (
            "; set objective='multiclass' for more"
            if len(classes) > 2
            else "; its labels must name two classes or more"
        )
        raise DataError(
            f"{channel.name}: objective {config.objective!r} needs {want} classes, "
            f"found {list(classes)}{fix}"
        )
    codes = label_codes(names, classes, binary)
    rows = np.asarray(rows, dtype=np.int64)
    shared = sorted({names[i] for i in rows.tolist() if names[i] is not None})
    if len(rows) and len(shared) < 2:
        raise DataError(
            f"{channel.name}: the {len(rows)} customer(s) it shares with {target} all have "
            f"label {shared[0]!r}: the shared rows tie its labels to {target}'s "
            "representations, so they need at least two classes; share more customers, or "
            "check that both parties' IDs are written alike"
        )
    homomorphic = config.homomorphic
    if homomorphic and keys is None:
        keys = generate_paillier_keypair(config.key_bits)
    if not homomorphic:
        keys = None
    resumed = start_party(checkpoints, channel.name)
    batch_seed = secrets.randbits(63) if seed is None else int(seed)
    if resumed is not None:
        batch_seed = resumed.seed
    spec = _encoder_spec(x, config.source_hidden, config, encoder is not None)
    x, inputs = _encoder_inputs(x, encoder is not None)
    ftl = channel.scope(SCOPE)
    mine = {
        "rows": len(rows),
        "classes": list(classes),
        "objective": config.objective,
        "seed": batch_seed,
        "public_key": None if keys is None else keys[0],
        "parameters": _encoder_parameters(spec, encoder, channel.name),
    }
    theirs, peer_key = _setup(ftl, target, mine, homomorphic)
    labelled = bool(theirs.get("labelled", False))
    if homomorphic:  # in the clear the parties see each other's terms anyway
        _warn_exposure(channel.name, target, theirs, len(rows), config)

    module = (
        enc.build_encoder(
            spec.in_features, spec.hidden, spec.dim, spec.activation, _own(own_seed, SOURCE_SEED)
        )
        if encoder is None
        else enc.check_encoder(encoder, spec.in_features, spec.dim, channel.name)
    )
    optimizer = enc.make_optimizer(module, config.optimizer, config.learning_rate)
    losses: list[float] = []
    best: list[np.ndarray] = []
    best_at, stopped = 0, False
    if resumed is not None:
        restore_party(resumed, module, optimizer, channel.name)
        losses = list(resumed.losses)
        best, best_at, stopped = resumed.best, resumed.best_epoch, resumed.stopped
    validating = config.validation_fraction > 0
    parameters = enc.flat_parameters(module).size
    left = config.epochs - len(losses)
    own_pool, peer_pool = _primed_pools(
        keys, peer_key, config, len(rows), parameters, left, loss=True
    )
    p_bits, j_bits = config.precision_bits, config.jacobian_precision_bits
    lr = config.learning_rate
    dim, width = config.dim, codes.shape[1]
    reporter = TrainingReporter(
        progress, channel.name, config.epochs, whole_batches(len(rows), config.batch_size)
    )
    try:
        for epoch in range(len(losses), len(losses) if stopped else config.epochs):
            this_epoch = ftl.scope(epoch=epoch)
            batches = batch_order(batch_seed, epoch, len(rows), config.batch_size, whole=True)
            epoch_loss = 0.0
            for b, batch in enumerate(batches):
                step = this_epoch.scope(batch=b)
                n = len(batch)
                u_all = enc.represent(module, x)
                phi = translator(codes, u_all)
                batch_codes = codes[rows[batch]]
                c, m = source_terms(
                    phi, batch_codes, u_all[rows[batch]], batch_weights(config, n, 0)
                )
                sent = {"c": c, "m": m} | ({"phi": phi} if labelled else {})
                require_finite(sent.values(), channel.name, "terms", epoch, b, lr)
                step.send(target, SOURCE_TERMS, _seal(sent, keys, p_bits, own_pool))
                last_batch = epoch + 1 == config.epochs and b + 1 == len(batches)
                _refill(own_pool, not last_batch)
                got = _mapping(step.recv(target, TARGET_TERMS), target, "its terms")
                u_b = _expect(got.get("u"), peer_key, (n, dim), p_bits, f"{target} U_B")
                w_b = _expect(got.get("w"), peer_key, (dim, dim), p_bits, f"{target} W")
                q_b = _expect(got.get("q"), peer_key, (1,), p_bits, f"{target} q")
                r_b = None
                if "r" in got:
                    if not labelled:
                        raise ProtocolError(f"{target} sent label terms it said it does not have")
                    r_b = _expect(got["r"], peer_key, (width, dim), p_bits, f"{target} R")
                # the source never learns m: any m > 0 only switches the label terms on
                w = batch_weights(config, n, 0 if r_b is None else 1)
                for local in range(config.local_steps):
                    if local:
                        u_all = enc.represent(module, x)
                        phi = translator(codes, u_all)
                    u_a = u_all[rows[batch]]
                    theta = enc.flat_parameters(module)
                    mats = source_gradient_matrices(
                        phi,
                        batch_codes,
                        u_a,
                        enc.translator_jacobian(module, x, codes),
                        enc.row_jacobians(module, x[rows[batch]]),
                        theta,
                        w,
                    )
                    require_finite(mats.values(), channel.name, "gradient factors", epoch, b, lr)
                    own = {"gradient": source_gradient(u_b, w_b, r_b, mats, j_bits)}
                    if local == 0:
                        own["loss"] = source_loss(u_b, w_b, r_b, q_b, mats, j_bits)
                    plain = _open(step.scope(local=local), target, own, keys, peer_pool)
                    _refill(peer_pool, not (last_batch and local + 1 == config.local_steps))
                    if local == 0:
                        epoch_loss += float(plain["loss"][0])
                    enc.apply_gradient(module, optimizer, plain["gradient"])
                reporter.batch(epoch, b, epoch_loss / (b + 1))
            losses.append(epoch_loss / len(batches))
            this_epoch.send(coordinator, LOSS, losses[-1])
            last = epoch + 1 == config.epochs
            if validating:  # the target scores its held-out rows with this epoch's Phi
                phi = translator(codes, enc.represent(module, x))
                scoring = SourceModel(spec, [], phi, classes, config.objective)
                ftl_predict_source(this_epoch.scope(VALIDATION), scoring, target, config, keys)
            stopped = last
            if config.early_stopping:
                if validating:
                    decision = Decision.from_wire(this_epoch.recv(target, DECISION), target)
                else:
                    decision = decide(losses, config, last)
                    this_epoch.send(target, DECISION, decision.to_wire())
                if decision.best:
                    best, best_at = enc.parameter_arrays(module), epoch + 1
                stopped = decision.stop
            reporter.epoch_end(epoch, losses[-1], stopped)
            save_party(
                checkpoints,
                epoch + 1,
                module,
                optimizer,
                seed=batch_seed,
                losses=losses,
                best_epoch=best_at,
                best=best,
                stopped=stopped,
            )
            if stopped:
                break
    except FixedPointOverflowError as exc:
        raise _overflowed(channel.name, epoch, b, config, exc) from exc
    finally:
        _close(own_pool, peer_pool)
    if config.early_stopping and best:  # restore the best epoch's encoder
        enc.load_parameter_arrays(module, best)
    phi = translator(codes, enc.represent(module, x))
    model = SourceModel(
        spec,
        enc.parameter_arrays(module),
        phi,
        classes,
        config.objective,
        losses,
        len(losses),
        best_at,
        inputs,
    )
    return _keep_module(model, module, encoder is not None)


# -- the target (B, the feature party) -----------------------------------------------------------


def ftl_target(
    channel: Channel,
    features: np.ndarray,
    labels: Any,
    rows: np.ndarray,
    config: TransferConfig,
    source: str,
    *,
    coordinator: str = COORDINATOR,
    own_seed: int | None = None,
    encoder: Any = None,
    checkpoints: EpochCheckpoints | None = None,
    progress: ProgressFn | None = None,
) -> TargetModel:
    """The target: its encoder, trained through the source's encrypted terms.

    Parameters
    ----------
    channel
        The target's channel.
    features
        Every row of its table, raw columns (the built encoder reads them z-scored over
        these rows).
    labels
        One label per row, ``None`` (or NaN or empty text) where it has none; or ``None``
        when it has no labels at all.
    rows
        Its rows of the overlap, in PSI's agreed order.
    config
        The training settings (the plan's).
    source
        The source party's name.
    coordinator
        The coordinator's role name (told the held-out scores with ``validation_fraction``).
    own_seed
        Its own seed, which the source never learns: its encoder's initial weights (else
        drawn from the OS).
    encoder
        A torch module to train instead of the MLP the config describes.
    checkpoints
        A resumable run's checkpoints: continue after their last epoch, save every epoch
        (see :mod:`rengo.ftl.resume`).
    progress
        Told after every batch and epoch (see :class:`~rengo.vfl.TrainingReporter`).

    Returns
    -------
    TargetModel
        Its encoder's weights and the class names.

    Raises
    ------
    DataError
        For labels of classes the source does not have, a row count the source does not
        share, or a ``validation_fraction`` that holds out none of its labelled rows.
    ProtocolError
        If the source sends something malformed.
    """
    from rengo.ftl import encoders as enc
    from rengo.ftl.predict import ftl_predict_target

    x = _features(features, channel.name)
    rows = np.asarray(rows, dtype=np.int64)
    names = [None] * len(x) if labels is None else label_names(labels)
    if len(names) != len(x):
        raise DataError(f"{channel.name}: {len(names)} labels for {len(x)} rows")
    all_labelled = np.flatnonzero([n is not None for n in names])
    validating = config.validation_fraction > 0
    # how many are held out does not depend on the seed: it is known before set-up
    training_labels = len(all_labelled) - int(held_out(0, all_labelled, config, channel.name).sum())
    use_labels = training_labels > 0 and config.target_label_weight > 0
    homomorphic = config.homomorphic
    keys = generate_paillier_keypair(config.key_bits) if homomorphic else None
    spec = _encoder_spec(x, config.target_hidden, config, encoder is not None)
    x, inputs = _encoder_inputs(x, encoder is not None)
    ftl = channel.scope(SCOPE)
    mine = {
        "rows": len(rows),
        "labelled": use_labels,
        "public_key": None if keys is None else keys[0],
        "parameters": _encoder_parameters(spec, encoder, channel.name),
    }
    theirs, peer_key = _setup(ftl, source, mine, homomorphic)
    if homomorphic:  # in the clear the parties see each other's terms anyway
        _warn_exposure(channel.name, source, theirs, len(rows), config)
    classes = tuple(str(c) for c in theirs.get("classes", []))
    binary = theirs.get("objective") == "binary"
    if theirs.get("objective") != config.objective or len(classes) < 2:
        raise ProtocolError(f"{source} sent an objective or classes that do not fit the plan")
    batch_seed = int(theirs["seed"])
    resumed = start_party(checkpoints, channel.name)
    require_same_seed(None if resumed is None else resumed.seed, batch_seed, channel.name, source)
    validation_mask = held_out(batch_seed, all_labelled, config, channel.name)
    labelled_rows, validation_rows = all_labelled[~validation_mask], all_labelled[validation_mask]
    codes_all = label_codes([names[i] for i in labelled_rows], classes, binary)
    class_index = {name: k for k, name in enumerate(classes)}
    label_codes([names[i] for i in validation_rows], classes, binary)  # names a foreign class
    truth = np.array([class_index[str(names[i])] for i in validation_rows], dtype=np.int64)
    width = codes_all.shape[1]

    module = (
        enc.build_encoder(
            spec.in_features, spec.hidden, spec.dim, spec.activation, _own(own_seed, TARGET_SEED)
        )
        if encoder is None
        else enc.check_encoder(encoder, spec.in_features, spec.dim, channel.name)
    )
    optimizer = enc.make_optimizer(module, config.optimizer, config.learning_rate)
    validation: list[dict[str, float]] = []
    best: list[np.ndarray] = []
    best_at, stopped = 0, False
    if resumed is not None:
        restore_party(resumed, module, optimizer, channel.name)
        validation = list(resumed.validation)
        best, best_at, stopped = resumed.best, resumed.best_epoch, resumed.stopped
    first_epoch = 0 if resumed is None else resumed.epochs_run
    epochs_run = first_epoch
    parameters = enc.flat_parameters(module).size
    left = config.epochs - first_epoch
    own_pool, peer_pool = _primed_pools(
        keys, peer_key, config, len(rows), parameters, left, loss=False
    )
    p_bits, j_bits = config.precision_bits, config.jacobian_precision_bits
    lr = config.learning_rate
    dim = config.dim
    empty = np.empty((0, x.shape[1]))
    reporter = TrainingReporter(
        progress, channel.name, config.epochs, whole_batches(len(rows), config.batch_size)
    )
    try:
        for epoch in range(first_epoch, first_epoch if stopped else config.epochs):
            this_epoch = ftl.scope(epoch=epoch)
            batches = batch_order(batch_seed, epoch, len(rows), config.batch_size, whole=True)
            parts = (
                target_label_batches(batch_seed, epoch, len(labelled_rows), len(batches))
                if use_labels
                else [np.empty(0, dtype=np.int64)] * len(batches)
            )
            for b, batch in enumerate(batches):
                step = this_epoch.scope(batch=b)
                own_rows = labelled_rows[parts[b]]
                x_b = x[rows[batch]]
                x_t = x[own_rows] if len(own_rows) else empty
                codes_t = codes_all[parts[b]]
                w = batch_weights(config, len(batch), len(own_rows))
                u_b, u_t = enc.represent(module, x_b), enc.represent(module, x_t)
                theta = enc.flat_parameters(module)
                wmat, r, q = target_terms(u_b, u_t.reshape(-1, dim), codes_t, theta, w)
                sent = {"u": u_b, "w": wmat, "q": q} | ({"r": r} if w.labelled else {})
                require_finite(sent.values(), channel.name, "terms", epoch, b, lr)
                step.send(source, TARGET_TERMS, _seal(sent, keys, p_bits, own_pool))
                last_batch = epoch + 1 == config.epochs and b + 1 == len(batches)
                _refill(own_pool, not last_batch)
                got = _mapping(step.recv(source, SOURCE_TERMS), source, "its terms")
                c = _expect(got.get("c"), peer_key, (len(batch), dim), p_bits, f"{source} c")
                m = _expect(got.get("m"), peer_key, (dim, dim), p_bits, f"{source} M")
                phi = None
                if use_labels:
                    phi = _expect(got.get("phi"), peer_key, (width, dim), p_bits, f"{source} Phi")
                for local in range(config.local_steps):
                    if local:
                        u_b, u_t = enc.represent(module, x_b), enc.represent(module, x_t)
                        theta = enc.flat_parameters(module)
                    mats = target_gradient_matrices(
                        u_b,
                        enc.row_jacobians(module, x_b),
                        u_t.reshape(-1, dim),
                        enc.row_jacobians(module, x_t),
                        codes_t,
                        theta,
                        w,
                    )
                    require_finite(mats.values(), channel.name, "gradient factors", epoch, b, lr)
                    label_terms = phi if w.labelled else None
                    own = {"gradient": target_gradient(c, m, label_terms, mats, j_bits)}
                    plain = _open(step.scope(local=local), source, own, keys, peer_pool)
                    _refill(peer_pool, not (last_batch and local + 1 == config.local_steps))
                    enc.apply_gradient(module, optimizer, plain["gradient"])
                reporter.batch(epoch, b)
            last = epoch + 1 == config.epochs
            if validating:  # scored as any of its rows would be (x is read z-scored already)
                weights = enc.parameter_arrays(module)
                scoring = TargetModel(spec, weights, classes, config.objective)
                probabilities = ftl_predict_target(
                    this_epoch.scope(VALIDATION),
                    x[validation_rows],
                    _keep_module(scoring, module, True),
                    source,
                    config,
                )
                validation.append(validation_scores(probabilities, truth, binary))
                this_epoch.send(coordinator, SCORES, validation[-1])
            stopped = last
            if config.early_stopping:
                if validating:
                    decision = decide([v["loss"] for v in validation], config, last)
                    this_epoch.send(source, DECISION, decision.to_wire())
                else:
                    decision = Decision.from_wire(this_epoch.recv(source, DECISION), source)
                if decision.best:
                    best, best_at = enc.parameter_arrays(module), epoch + 1
                stopped = decision.stop
            held = validation[-1]["loss"] if validating else None
            reporter.epoch_end(epoch, None, stopped, validation_loss=held)
            save_party(
                checkpoints,
                epoch + 1,
                module,
                optimizer,
                seed=batch_seed,
                validation=validation,
                best_epoch=best_at,
                best=best,
                stopped=stopped,
            )
            epochs_run = epoch + 1
            if stopped:
                break
    except FixedPointOverflowError as exc:
        raise _overflowed(channel.name, epoch, b, config, exc) from exc
    finally:
        _close(own_pool, peer_pool)
    if config.early_stopping and best:  # restore the best epoch's encoder
        enc.load_parameter_arrays(module, best)
    if validating and not config.early_stopping:
        best_at = best_epoch([v["loss"] for v in validation])
    model = TargetModel(
        spec,
        enc.parameter_arrays(module),
        classes,
        config.objective,
        len(all_labelled),
        epochs_run,
        validation,
        best_at,
        inputs,
    )
    return _keep_module(model, module, encoder is not None)


# -- the organiser ----------------------------------------------------------------------------


def ftl_coordinator(
    channel: Channel,
    source: str,
    config: TransferConfig,
    checkpoints: EpochCheckpoints | None = None,
    progress: ProgressFn | None = None,
    target: str | None = None,
) -> TransferReport:
    """The organiser's part of training: it records the loss the source reports per epoch
    (and the held-out scores the target reports, with ``validation_fraction`` > 0), and
    reports each epoch's end with them to ``progress`` (a deployed coordinator's display and
    its run record). With early stopping it stops when the parties do, by the same rule on
    the same losses.

    In a resumable run it checkpoints its record after every epoch.

    Raises
    ------
    ConfigError
        With a validation share but no ``target`` named.
    ProtocolError
        If the source or target reports something that is not a finite number.
    """
    validating = config.validation_fraction > 0
    if validating and target is None:
        raise ConfigError("the coordinator of a run with validation_fraction > 0 needs target")
    ftl = channel.scope(SCOPE)
    record = start_record(checkpoints)
    losses, validation = list(record.losses), list(record.validation)
    reporter = TrainingReporter(progress, channel.name, config.epochs, 1)
    reporter.begin(len(losses))
    for epoch in range(len(losses), len(losses) if record.stopped else config.epochs):
        this_epoch = ftl.scope(epoch=epoch)
        value = this_epoch.recv(source, LOSS)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProtocolError(f"{source} reported a loss that is not a number: {value!r}")
        losses.append(float(value))
        if validating:
            assert target is not None
            validation.append(scores_from_wire(this_epoch.recv(target, SCORES), target))
        history = [v["loss"] for v in validation] if validating else losses
        stop = epoch + 1 == config.epochs or should_stop(
            history, config.n_iter_no_change, config.tol
        )
        save_record(checkpoints, CoordinatorResume(losses, validation, stop))
        reporter.epoch_end(
            epoch,
            losses[-1],
            stop=stop,
            validation_loss=validation[-1]["loss"] if validating else None,
        )
        if stop:
            break
    return TransferReport(losses, len(losses), validation)
