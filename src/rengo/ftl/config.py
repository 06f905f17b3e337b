"""Settings of secure federated transfer learning: the one place its options and defaults live.

Every surface is generated from :class:`TransferConfig`: the estimator's keyword arguments,
the ``[vfl]`` keys of a job file with ``algorithm = "ftl"``, the ``rengo vfl coordinator``
flags, and the config the coordinator's plan carries to both parties (so source and target
run the same epochs, batches, weights and precision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rengo.core.options import OptionError, check_options, option
from rengo.crypto.keys import SUPPORTED_KEY_BITS
from rengo.crypto.obfuscators import MAX_OBFUSCATOR_PROCESSES, LocalObfuscatorScheme

Security = Literal["homomorphic", "plaintext"]
"""``"homomorphic"``: every exchanged component is Paillier-encrypted and each party decrypts
only the other's masked values (Liu et al. 2020, Section "Secure FTL"). ``"plaintext"``:
the same components in the clear, for parties that trust each other (a trusted setting:
each sees the other's representations of the shared rows)."""

Objective = Literal["binary", "multiclass"]
Activation = Literal["tanh", "relu", "sigmoid"]
OptimizerName = Literal["adam", "sgd"]


MAX_HIDDEN_WIDTH = 65_536
"""Widest hidden layer of an encoder (as a horizontal job's model.hidden)."""


def parse_hidden(text: str, option_name: str = "hidden") -> tuple[int, ...]:
    """Hidden layer widths from ``"32,16"`` (``""``: a linear encoder).

    Raises
    ------
    OptionError
        Naming ``option_name`` if a width is not an integer in [1, MAX_HIDDEN_WIDTH].
    """
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        widths = tuple(int(p) for p in parts)
    except ValueError:
        raise OptionError(
            option_name, f"must be comma-separated layer widths such as '32,16', got {text!r}"
        ) from None
    if any(not 1 <= w <= MAX_HIDDEN_WIDTH for w in widths):
        raise OptionError(option_name, f"widths must lie in [1, {MAX_HIDDEN_WIDTH}], got {text!r}")
    return widths


@dataclass(frozen=True)
class TransferConfig:
    """Hyper-parameters of secure federated transfer learning (Liu et al. 2020).

    The loss both parties minimise, over a batch of ``n`` shared rows (and ``m`` rows the
    target labelled itself), with the second-order Taylor expansion ``l`` of the logistic
    loss (binary) or of the softmax cross-entropy (multiclass; see :mod:`rengo.ftl.math`)::

        L = alpha/n sum_j l(y_j, Phi u_B,j) + beta/m sum_k l(y_k, Phi u_B,k)
            + gamma/n sum_j ||u_A,j - u_B,j||^2 + lambda/2 (||theta_A||^2 + ||theta_B||^2)

    where ``Phi = 1/N_A sum_i y_i u_A,i^T`` (the translator) averages the source's
    representations weighted by its label codes. ``alpha`` is ``prediction_weight``,
    ``beta`` ``target_label_weight``, ``gamma`` ``alignment_weight`` and ``lambda`` ``l2``.
    ``local_steps > 1`` is the communication-efficient variant: each exchange of components
    is followed by several local updates. Each party encrypts its own components under its
    own key (CRT obfuscators) and masks the other's with randomness it makes under the
    other's public key, as ``obfuscator_scheme`` says
    (:data:`rengo.crypto.obfuscators.LocalObfuscatorScheme`: ``"djn"`` short exponents by
    default, ``"djn-short"`` shorter ones, ``"full"`` for DCR alone), in
    ``obfuscator_processes`` worker processes (0: in its own process). ``key_bits`` below
    2048 are for tests and benchmarks only.

    With ``validation_fraction`` > 0 that share of the target's labelled rows (drawn from the
    run's seed) is held out of training, and after every epoch the target scores them through
    the prediction protocol (:mod:`rengo.ftl.predict`) and computes their loss. Early stopping
    (``n_iter_no_change`` >= 1) ends training once that loss has not improved by ``tol`` for
    ``n_iter_no_change`` epochs and keeps both encoders as they were after the best epoch
    (Keras' ``restore_best_weights``); without a validation share the training loss decides.
    ``n_iter_no_change`` = 0 never stops early (the held-out rows then only give the
    validation losses).

    Raises
    ------
    OptionError
        Naming the first option whose value is out of range.
    """

    security: Security = option(
        "homomorphic", "homomorphic (Paillier, masked) or plaintext (trusted parties only)."
    )
    objective: Objective = option("binary", "binary (P(y=1)) or multiclass (class probabilities).")
    dim: int = option(8, "Size of the common representation space (d).", ge=1, le=4096)
    source_hidden: str = option("32", "The source encoder's hidden widths ('' = linear).")
    target_hidden: str = option("32", "The target encoder's hidden widths ('' = linear).")
    activation: Activation = option("tanh", "Hidden-layer activation of both encoders.")
    epochs: int = option(10, "Passes over the shared rows.", ge=1, le=10_000)
    batch_size: int = option(
        128,
        "Shared rows per exchange (at least: the remainder joins the last batch). Keep "
        "batch_size x dim above each encoder's parameter count (GradientExposureWarning).",
        ge=1,
        le=2**20,
    )
    local_steps: int = option(
        1, "Local updates per exchange (> 1: communication-efficient).", ge=1, le=1000
    )
    learning_rate: float = option(0.01, "Step size.")
    optimizer: OptimizerName = option("adam", "Each party's optimizer.")
    prediction_weight: float = option(1.0, "alpha: weight of the source labels' loss.")
    target_label_weight: float = option(1.0, "beta: weight of the target's own labels' loss.")
    alignment_weight: float = option(0.1, "gamma: weight of the alignment loss.")
    l2: float = option(1e-4, "lambda: L2 penalty on both encoders' weights.")
    validation_fraction: float = option(
        0.0, "Share of the target's labelled rows held out and scored every epoch (0: none)."
    )
    n_iter_no_change: int = option(
        0,
        "Stop after this many epochs without a tol improvement, keeping the best (0: never).",
        ge=0,
        le=10_000,
    )
    tol: float = option(1e-4, "Smallest loss improvement that counts for early stopping.")
    precision_bits: int = option(32, "Fractional bits of encrypted components.")
    jacobian_precision_bits: int = option(20, "Fractional bits of plaintext multipliers.")
    key_bits: int = option(2048, "Paillier key size (512 and 1024: tests only).")
    obfuscator_scheme: LocalObfuscatorScheme = option(
        "djn",
        "Randomness for masking under the peer's key: djn (fast), djn-short (faster, "
        "2x-security-bit exponents) or full (DCR only).",
    )
    obfuscator_processes: int = option(
        0,
        "Worker processes per party for obfuscators (0: none).",
        ge=0,
        le=MAX_OBFUSCATOR_PROCESSES,
    )

    def __post_init__(self) -> None:
        check_options(self)
        if not self.learning_rate > 0:
            raise OptionError("learning_rate", f"must be > 0, got {self.learning_rate!r}")
        for name in ("prediction_weight", "target_label_weight", "alignment_weight", "l2"):
            if getattr(self, name) < 0:
                raise OptionError(name, f"must be >= 0, got {getattr(self, name)!r}")
        if self.prediction_weight == 0 and self.target_label_weight == 0:
            raise OptionError(
                "prediction_weight", "and target_label_weight cannot both be 0: nothing to learn"
            )
        if not 0 <= self.validation_fraction < 1:
            raise OptionError(
                "validation_fraction", f"must lie in [0, 1), got {self.validation_fraction!r}"
            )
        if not self.tol >= 0:
            raise OptionError("tol", f"must be >= 0, got {self.tol!r}")
        parse_hidden(self.source_hidden, "source_hidden")
        parse_hidden(self.target_hidden, "target_hidden")
        if not 8 <= self.precision_bits <= 64:
            raise OptionError("precision_bits", f"must lie in [8, 64], got {self.precision_bits}")
        if not 8 <= self.jacobian_precision_bits <= 40:
            raise OptionError(
                "jacobian_precision_bits",
                f"must lie in [8, 40], got {self.jacobian_precision_bits}",
            )
        if self.key_bits not in SUPPORTED_KEY_BITS:
            raise OptionError(
                "key_bits", f"must be one of {SUPPORTED_KEY_BITS}, got {self.key_bits}"
            )

    @property
    def early_stopping(self) -> bool:
        """Whether training may stop before ``epochs`` (``n_iter_no_change`` >= 1)."""
        return self.n_iter_no_change >= 1

    @property
    def homomorphic(self) -> bool:
        """Whether components travel Paillier-encrypted."""
        return self.security == "homomorphic"
