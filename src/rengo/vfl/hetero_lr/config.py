"""Settings of coordinated hetero LR: the one place its options and their defaults live.

Every surface is generated from :class:`HeteroLRConfig`: the estimator's keyword arguments,
the ``[vfl]`` keys of a vertical job file, the ``rengo vfl coordinator`` flags, and the dict
the label party sends every other role at set-up (so every party runs the same number of
epochs, batches and precision).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeVar

from rengo.core.options import (
    OptionError,
    check_options,
    option,
    options_from_wire,
    options_to_wire,
)
from rengo.crypto.dealing import ObfuscatorSource
from rengo.crypto.keys import SUPPORTED_KEY_BITS
from rengo.crypto.obfuscators import MAX_OBFUSCATOR_PROCESSES, LocalObfuscatorScheme
from rengo.data.class_weights import CLASS_WEIGHT_HELP, NO_CLASS_WEIGHT, class_weight_text
from rengo.vfl.hetero_lr.math import OptimizerName, Schedule

PredictMode = Literal["encrypted", "plain"]
MultiClass = Literal["auto", "ovr"]
"""How hetero LR trains labels of more than two classes: ``"auto"`` (binary for 0/1 labels,
one-vs-rest for class codes 0..K-1 with K > 2) or ``"ovr"`` (one-vs-rest, also for two
classes; see :mod:`rengo.vfl.hetero_lr.one_vs_rest`)."""
MissingPolicy = Literal["refuse", "zero", "mean"]
"""What a party does with empty (NaN) cells of its own columns: refuse them (default), or
fill them with 0 or with the column's mean over its own training rows."""
ConfigT = TypeVar("ConfigT", bound="LinearModelConfig")


@dataclass(frozen=True)
class LinearModelConfig:
    """Hyper-parameters shared by the coordinated hetero linear models (LR, linear, Poisson).

    Every field is an option of each of them (:class:`HeteroLRConfig` and the configs of
    :mod:`rengo.vfl.hetero_linear` and :mod:`rengo.vfl.hetero_poisson` add none), so the
    coordinator and the feature parties can read any of them from the wire as this class.

    ``l2`` weights ``l2/2 * ||w||^2`` added to the mean loss (the intercept is not penalised);
    for LR it matches scikit-learn's ``C = 1 / (n_rows * l2)``. Training runs until the loss
    stops improving: it stops once ``n_iter_no_change`` epochs in a row failed to lower the
    best epoch loss by ``tol`` (0 disables early stopping), and after ``epochs`` epochs at
    most. ``optimizer="auto"`` (default) trains a table that fits in one batch
    (``rows <= batch_size``) with full-batch Newton-CG when the loss is quadratic (LR's
    Taylor loss, linear regression's squared loss; see :mod:`rengo.vfl.hetero_lr.newton`),
    which converges in a few epochs where ten gradient steps do not, and larger tables with
    mini-batch Adam - except linear regression, solved with Newton-CG on any table (its
    optimum has the target's scale, which Adam's steps do not follow). First-order steps
    follow ``lr_schedule``: ``"adaptive"`` (default) keeps
    ``learning_rate`` while the epoch loss improves and multiplies it by ``lr_decay`` each
    time ``n_iter_no_change`` epochs in a row did not improve it by ``tol``, and stops once
    such a plateau comes at 1/100 of ``learning_rate`` or less (scikit-learn's adaptive
    rule with these factor and floor, :func:`rengo.vfl.hetero_lr.math.adaptive_lr_scale`):
    an Adam step that overshoots or circles the optimum is cut instead of ending training
    short of it. The label party tells the other roles each epoch's factor (they learn at
    which epochs the loss stopped improving, no loss value). Both need the epoch loss: with
    ``compute_loss=False`` the rate stays ``learning_rate`` and training runs all
    ``epochs``. ``optimizer="newton"`` asks for Newton-CG on any table (every epoch is then
    one full-batch iteration and ``batch_size`` is not used).
    ``missing`` says what each party does with empty (NaN) cells of its own columns:
    ``"refuse"`` (default) stops with an error naming the party and column; ``"zero"``
    fills them with 0, ``"mean"`` with the column's mean over the party's own training rows;
    the fill values stay in the party's model and fill its scoring rows the same way
    (nothing leaves the party).
    ``residual_precision_bits`` are the fractional bits of encrypted partial predictors,
    ``feature_precision_bits`` those of features in ``Enc(d)^T X``. ``obfuscator_source``
    says who makes the guest's and hosts' encryption randomness (see
    :mod:`rengo.crypto.dealing`: ``"coordinator"`` is faster, ``"local"`` does not trust the
    coordinator to deal good randomness). With local randomness, ``obfuscator_scheme`` says
    how each party makes it (:data:`rengo.crypto.obfuscators.LocalObfuscatorScheme`):
    ``"djn"`` (default) short exponents from a fixed-base table, secure under DCR plus the
    short-exponent assumption; ``"djn-short"`` the same with exponents of twice the key's
    security bits (opt-in, 2-5x cheaper); ``"full"`` Paillier's ``r^n``, under DCR alone and
    several times slower. ``obfuscator_processes`` runs each party's obfuscator making in that many
    worker processes (0: in the party's own process). ``predict_mode`` picks how scores are gathered
    (see :mod:`rengo.vfl.hetero_lr.predict`). ``key_bits`` below 2048 are for tests and
    benchmarks only. ``class_weight`` (hetero LR only, see :class:`HeteroLRConfig`) weighs
    each row's loss by its class's weight. ``multi_class`` (hetero LR only, see
    :mod:`rengo.vfl.hetero_lr.one_vs_rest`) trains labels of K > 2 classes as K binary
    one-vs-rest models in the same protocol passes.

    Raises
    ------
    OptionError
        Naming the first option whose value is out of range.
    """

    epochs: int = option(100, "Most training epochs (training stops earlier once converged).")
    batch_size: int = option(1024, "Rows per mini-batch.")
    learning_rate: float = option(0.1, "Step size (first-order optimizers).")
    l2: float = option(0.0, "L2 penalty weight on the mean loss (scikit-learn C = 1/(n l2)).")
    tol: float = option(1e-4, "Stop once the loss improves by less than this (0: never).")
    n_iter_no_change: int = option(2, "Epochs in a row without a tol improvement to stop.")
    lr_schedule: Schedule = option(
        "adaptive", "Learning rate: adaptive (cut at plateaus), constant, inverse_sqrt or step."
    )
    lr_decay: float = option(0.5, "Decay factor of the adaptive and step schedules.")
    lr_step_epochs: int = option(10, "Epochs between decays of the step schedule.")
    optimizer: OptimizerName = option(
        "auto",
        "auto (Newton-CG for one-batch tables and linear regression, else adam), adam, sgd "
        "or newton.",
    )
    missing: MissingPolicy = option(
        "refuse", "Empty (NaN) cells: refuse, or fill with zero or the column mean."
    )
    fit_intercept: bool = option(True, "Learn an intercept (held by the label party).")
    compute_loss: bool = option(True, "Compute the encrypted Taylor loss (needed for tol).")
    residual_precision_bits: int = option(32, "Fractional bits of encrypted predictors.")
    feature_precision_bits: int = option(16, "Fractional bits of features in Enc(d)^T X.")
    obfuscator_source: ObfuscatorSource = option(
        "local", "Who makes encryption randomness: local, or dealt by the coordinator."
    )
    obfuscator_scheme: LocalObfuscatorScheme = option(
        "djn",
        "Local randomness: djn (short exponents, fast), djn-short (2x-security-bit "
        "exponents, faster) or full (r^n, DCR only).",
    )
    obfuscator_processes: int = option(
        0,
        "Worker processes per party for obfuscators (0: none).",
        ge=0,
        le=MAX_OBFUSCATOR_PROCESSES,
    )
    predict_mode: PredictMode = option(
        "encrypted", "Scoring: encrypted (default) or plain (FATE's way; reveals partials)."
    )
    key_bits: int = option(2048, "Paillier key size (512 and 1024: tests only).")
    class_weight: str = option(
        NO_CLASS_WEIGHT,
        CLASS_WEIGHT_HELP + " Hetero LR only; weighs each row's residual at the label party.",
        convert=class_weight_text,
    )
    multi_class: MultiClass = option(
        "auto",
        "Labels of 3+ classes: ovr (one model per class); auto is binary for 0/1 labels "
        "(the Python estimator also takes 3+ classes with auto; job files and deployed runs "
        "need ovr). Hetero LR only.",
    )
    what: ClassVar[str] = "hetero linear model config"  # how errors name it
    classifies: ClassVar[bool] = True  # whether class_weight applies (regressions: no)
    names_elsewhere: ClassVar[Mapping[str, str]] = MappingProxyType(
        {  # FATE 2.x CoordinatedLR / CoordinatedLinR; see docs/coming-from-fate.md
            "max_iter": "FATE's max_iter is 'epochs' here (the most epochs: training stops "
            "earlier once the loss stops improving by 'tol')",
            "alpha": "FATE's alpha (with penalty='l2') is 'l2' here, with the same meaning "
            "(l2 * w added to the mean loss's gradient; the intercept is not penalised)",
            "penalty": "FATE's penalty='l2' is set by 'l2' here (FATE's alpha; 0: none); "
            "there is no L1 penalty",
            "early_stop": "FATE's early_stop='diff' is 'tol' with 'n_iter_no_change' here "
            "(stop once the loss improved by less than tol for n_iter_no_change epochs in a "
            "row; 1 is closest to FATE's rule); 'weight_diff' and 'abs' have no counterpart",
            "learning_rate_scheduler": "FATE's learning_rate_scheduler is 'lr_schedule' here "
            "(constant, step with 'lr_decay' and 'lr_step_epochs', adaptive, inverse_sqrt); "
            "FATE's default, linear with start_factor 1.0, keeps the rate constant: "
            'lr_schedule="constant"',
            "optimizer_params": "FATE's optimizer_params lr is 'learning_rate' here, "
            "and its method is 'optimizer' (sgd or adam)",
            "lr": "FATE's optimizer lr is 'learning_rate' here",
            "encrypt_param": "FATE's encrypt_param key_length is 'key_bits' here",
            "key_length": "FATE's key_length is 'key_bits' here",
            "floating_point_precision": "FATE's floating_point_precision is "
            "'residual_precision_bits' and 'feature_precision_bits' here",
            "threshold": "FATE's threshold has no counterpart: predict cuts probabilities "
            "at 0.5; cut predict_proba's yourself for another threshold",
        }
    )

    def __post_init__(self) -> None:
        check_options(self)
        if self.key_bits not in SUPPORTED_KEY_BITS:
            raise OptionError(
                "key_bits", f"must be one of {SUPPORTED_KEY_BITS}, got {self.key_bits}"
            )
        for name in ("epochs", "batch_size", "lr_step_epochs", "n_iter_no_change"):
            value = getattr(self, name)
            if value < 1:
                full_batch = (
                    " (one batch of every row, FATE's batch_size <= 0: a batch_size of at "
                    "least the row count)"
                    if name == "batch_size"
                    else ""
                )
                raise OptionError(name, f"must be >= 1, got {value!r}{full_batch}")
        if not self.learning_rate > 0:
            raise OptionError("learning_rate", f"must be > 0, got {self.learning_rate!r}")
        for name in ("l2", "tol"):
            if getattr(self, name) < 0:
                raise OptionError(name, f"must be >= 0, got {getattr(self, name)!r}")
        if not self.lr_decay > 0:
            raise OptionError("lr_decay", f"must be > 0, got {self.lr_decay!r}")
        if self.lr_schedule == "adaptive" and not self.lr_decay < 1:
            raise OptionError(
                "lr_decay", f"must be < 1 with the adaptive schedule, got {self.lr_decay!r}"
            )
        if not 8 <= self.residual_precision_bits <= 64:
            raise OptionError("residual_precision_bits", "must lie in [8, 64]")
        if not 4 <= self.feature_precision_bits <= 40:
            raise OptionError("feature_precision_bits", "must lie in [4, 40]")
        if self.class_weight != NO_CLASS_WEIGHT and not self.classifies:
            raise OptionError(
                "class_weight",
                f"= {self.class_weight!r} weighs classes, and a {self.what.removesuffix(' config')}"
                " has none; remove class_weight (or train hetero_lr for 0/1 labels)",
            )
        if self.multi_class != "auto" and not self.classifies:
            raise OptionError(
                "multi_class",
                f"= {self.multi_class!r} trains one model per class, and a "
                f"{self.what.removesuffix(' config')} has none; remove multi_class (or train "
                "hetero_lr for class labels)",
            )
        if self.class_weight != NO_CLASS_WEIGHT and self.optimizer == "newton":
            raise OptionError(
                "class_weight",
                f"= {self.class_weight!r} is not trained by optimizer='newton' (its curvature "
                "rounds are unweighted); use optimizer='adam' or 'auto' (Adam when weighted)",
            )
        if self.class_weight != NO_CLASS_WEIGHT and self.residual_precision_bits < 24:
            raise OptionError(
                "residual_precision_bits",
                f"= {self.residual_precision_bits} leaves a weighted loss's cross terms "
                f"{self.residual_precision_bits + 3 - 16} fractional bits (16 go to the class "
                "weights): use at least 24 with class_weight (the default is 32)",
            )

    def to_wire(self) -> dict[str, Any]:
        """A codec-friendly dict of every field."""
        return options_to_wire(self)

    @classmethod
    def from_wire(cls: type[ConfigT], tree: Any) -> ConfigT:
        """Rebuild and validate a config received from another party.

        Raises
        ------
        ConfigError
            If ``tree`` is not a mapping, names an unknown field or holds a bad value.
        """
        return options_from_wire(cls, tree, cls.what)


@dataclass(frozen=True)
class HeteroLRConfig(LinearModelConfig):
    """Hyper-parameters of coordinated hetero LR (every field is a
    :class:`LinearModelConfig` option).

    ``l2`` weights ``l2/2 * ||w||^2`` added to the mean loss (the intercept is not penalised);
    it matches scikit-learn's ``C = 1 / (n_rows * l2)``. Training stops once the epoch's
    Taylor loss stops improving by ``tol`` (for ``n_iter_no_change`` epochs), after
    ``epochs`` at most; ``optimizer="auto"`` trains one-batch tables with Newton-CG (see
    :class:`LinearModelConfig`); ``missing`` fills empty cells locally (``"zero"``,
    ``"mean"``) or refuses them (default).
    ``residual_precision_bits`` are the fractional bits of encrypted partial predictors,
    ``feature_precision_bits`` those of features in ``Enc(d)^T X``. ``obfuscator_source``
    says who makes the guest's and hosts' encryption randomness (see
    :mod:`rengo.crypto.dealing`), ``obfuscator_scheme`` and ``obfuscator_processes`` how
    each party makes its own (see :class:`LinearModelConfig`). ``predict_mode`` picks how
    scores are gathered (see :mod:`rengo.vfl.hetero_lr.predict`). ``key_bits`` below 2048
    are for tests and benchmarks only.

    ``class_weight`` (``"balanced"``, or per class as ``"0:1,1:25"`` or ``{0: 1, 1: 25}``;
    see :mod:`rengo.data.class_weights`) weighs each row's Taylor loss by its class's
    weight, as scikit-learn's ``LogisticRegression(class_weight=...)`` weighs its loss: the
    label party multiplies each row's encrypted residual by its weight (fixed point, 16
    fractional bits), weighs its loss terms and recentres the intercept at the weighted
    base rate. With ``compute_loss`` it sends each host its weights encrypted once (the
    hosts weigh their squared terms under encryption). Balanced weights come from the label
    party's own labels; no other role sees a weight or a class count in clear (the setting
    itself, like every option, is in the plan every role gets). ``optimizer="auto"`` then
    trains with Adam (Newton-CG's curvature rounds are unweighted; ``"newton"`` is refused).

    Raises
    ------
    OptionError
        Naming the first option whose value is out of range.
    """

    what: ClassVar[str] = "hetero LR config"
