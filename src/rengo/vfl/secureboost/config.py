"""Settings of SecureBoost: the one place its options and their defaults live.

Every surface is generated from :class:`SecureBoostConfig`: the estimator's keyword
arguments, the ``[vfl]`` keys of a vertical job file (``algorithm = "secureboost"``), the
``rengo vfl coordinator`` flags, and the dict every party receives in the run's plan, so
every party grows the same number of trees of the same depth from the same bins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from rengo.core.options import (
    OptionError,
    check_options,
    option,
    options_from_wire,
    options_to_wire,
)
from rengo.crypto.keys import SUPPORTED_KEY_BITS
from rengo.crypto.obfuscators import MAX_OBFUSCATOR_PROCESSES, LocalObfuscatorScheme
from rengo.data.class_weights import CLASS_WEIGHT_HELP, NO_CLASS_WEIGHT, class_weight_text

Objective = Literal["binary", "multiclass", "regression"]
"""``"binary"``: logistic loss on 0/1 labels, predicts P(y = 1); ``"multiclass"``: softmax
over classes 0..K-1 (one multi-output tree per round), predicts class probabilities;
``"regression"``: squared error, predicts values."""

KeyHolder = Literal["label_party", "coordinator"]
"""Who makes and holds the Paillier key pair: the label party (SecureBoost's own design:
no third party needed) or the coordinator (it then decrypts only values the label party
masked with one-time pads)."""


@dataclass(frozen=True)
class SecureBoostConfig:
    """Hyper-parameters of SecureBoost (Cheng et al. 2019/2021) with XGBoost's split rule.

    ``l2`` is XGBoost's lambda and ``gamma`` its minimum split gain: a node splits when
    ``1/2 [G_L^2/(H_L+l2) + G_R^2/(H_R+l2) - G^2/(H+l2)] - gamma > 0``; a leaf's value is
    ``-G/(H+l2)``, added times ``learning_rate``. ``min_child_weight`` bounds each child's
    hessian sum and ``min_samples_leaf`` its row count. ``max_bin`` is the number of
    quantile bins per column (a missing-value bin comes on top). ``subsample`` draws that
    share of the training rows for each tree (without replacement, from the run's seed).
    With ``validation_fraction`` > 0 that share of the aligned rows is held out and
    training stops once the validation loss has not improved by ``tol`` for
    ``n_iter_no_change`` rounds (0: never stop early; without a validation share the
    training loss decides). ``precision_bits`` are the fractional bits of the encrypted
    gradients and hessians (fixed point: the protocol then computes exactly the sums a
    plaintext implementation computes on the same quantised values). Parties that encrypt
    (the label party encrypting its gradients, the feature parties re-randomising their
    histograms) make their own randomness as ``obfuscator_scheme`` says
    (:data:`rengo.crypto.obfuscators.LocalObfuscatorScheme`: ``"djn"`` short exponents by
    default, ``"djn-short"`` shorter ones, ``"full"`` for DCR alone, computed by CRT when
    the label party holds the key), in ``obfuscator_processes`` worker processes each (0: in
    their own process). ``key_bits`` below 2048 are for tests and benchmarks only.
    ``class_weight`` weighs each row's gradient and hessian by its class's weight at the
    label party (``"balanced"``, or per class as ``"0:1,1:25"`` or ``{0: 1, 1: 25}``; see
    :mod:`rengo.data.class_weights`), as XGBoost's and scikit-learn's sample weights do:
    the starting score, the leaf values, ``min_child_weight`` and the losses are then those
    of the weighted loss. The balanced weights come from the label party's training rows
    and never leave it (the feature parties see encrypted gradients only, packed in the
    widest slots whatever the weights: more histogram ciphertexts to re-randomise, send
    and decrypt, about a third more for binary runs and up to twice as many for
    multiclass).

    Raises
    ------
    OptionError
        Naming the first option whose value is out of range.
    """

    objective: Objective = option("binary", "binary, multiclass or regression.")
    n_trees: int = option(5, "Boosting rounds (at most, with early stopping).")
    max_depth: int = option(3, "Depth of each tree (3: at most 8 leaves).")
    learning_rate: float = option(0.3, "Shrinkage of every leaf value.")
    max_bin: int = option(32, "Quantile bins per column (plus one for missing values).")
    l2: float = option(1.0, "L2 penalty on leaf values (XGBoost's lambda).")
    gamma: float = option(0.0, "Minimum gain a split must exceed (XGBoost's gamma).")
    min_child_weight: float = option(1.0, "Minimum hessian sum in each child.")
    min_samples_leaf: int = option(1, "Minimum training rows in each child.")
    subsample: float = option(1.0, "Share of training rows drawn for each tree.")
    validation_fraction: float = option(
        0.0, "Share of aligned rows held out for early stopping (0: none)."
    )
    n_iter_no_change: int = option(0, "Stop after this many rounds without improvement (0: never).")
    tol: float = option(1e-7, "Smallest loss improvement that counts for early stopping.")
    precision_bits: int = option(32, "Fractional bits of encrypted gradients and hessians.")
    key_holder: KeyHolder = option("label_party", "Who holds the Paillier key pair.")
    obfuscator_scheme: LocalObfuscatorScheme = option(
        "djn",
        "Randomness of parties without the key: djn (fast), djn-short (faster, "
        "2x-security-bit exponents) or full (r^n, DCR only).",
    )
    obfuscator_processes: int = option(
        0,
        "Worker processes per party for obfuscators (0: none).",
        ge=0,
        le=MAX_OBFUSCATOR_PROCESSES,
    )
    key_bits: int = option(2048, "Paillier key size (512 and 1024: tests only).")
    class_weight: str = option(NO_CLASS_WEIGHT, CLASS_WEIGHT_HELP, convert=class_weight_text)
    names_elsewhere: ClassVar[Mapping[str, str]] = MappingProxyType(
        {  # FATE 2.x HeteroSecureBoost; see docs/coming-from-fate.md
            "num_trees": "FATE's num_trees is 'n_trees' here",
            "min_impurity_split": "FATE's min_impurity_split is 'gamma' here, halved: FATE "
            "compares the gain without XGBoost's 1/2, so gamma = min_impurity_split / 2 "
            "(FATE's default 0.01 is gamma=0.005)",
            "min_leaf_node": "FATE's min_leaf_node is 'min_samples_leaf' here",
            "min_sample_split": "FATE's min_sample_split has no counterpart: a node splits "
            "when each child keeps 'min_samples_leaf' rows",
            "l1": "FATE's l1 has no counterpart: leaves are penalised by 'l2' only",
            "encrypt_key_length": "FATE's encrypt_key_length is 'key_bits' here",
            "num_class": "FATE's num_class has no counterpart: objective='multiclass' takes "
            "the classes 0..K-1 from the labels",
        }
    )

    def __post_init__(self) -> None:
        check_options(self)
        if self.key_bits not in SUPPORTED_KEY_BITS:
            raise OptionError(
                "key_bits", f"must be one of {SUPPORTED_KEY_BITS}, got {self.key_bits}"
            )
        for name in ("n_trees", "max_depth", "min_samples_leaf"):
            if getattr(self, name) < 1:
                raise OptionError(name, f"must be >= 1, got {getattr(self, name)!r}")
        if not 2 <= self.max_bin <= 1024:
            raise OptionError("max_bin", f"must lie in [2, 1024], got {self.max_bin!r}")
        if self.max_depth > 16:
            raise OptionError("max_depth", f"must be <= 16, got {self.max_depth!r}")
        if not self.learning_rate > 0:
            raise OptionError("learning_rate", f"must be > 0, got {self.learning_rate!r}")
        for name in ("l2", "gamma", "min_child_weight", "tol"):
            if not getattr(self, name) >= 0:
                raise OptionError(name, f"must be >= 0, got {getattr(self, name)!r}")
        if not 0 < self.subsample <= 1:
            raise OptionError("subsample", f"must lie in (0, 1], got {self.subsample!r}")
        if not 0 <= self.validation_fraction < 1:
            raise OptionError(
                "validation_fraction", f"must lie in [0, 1), got {self.validation_fraction!r}"
            )
        if self.n_iter_no_change < 0:
            raise OptionError("n_iter_no_change", f"must be >= 0, got {self.n_iter_no_change}")
        if not 8 <= self.precision_bits <= 48:
            raise OptionError("precision_bits", f"must lie in [8, 48], got {self.precision_bits!r}")
        if self.objective == "regression" and self.class_weight != NO_CLASS_WEIGHT:
            raise OptionError(
                "class_weight",
                f"= {self.class_weight!r} weighs classes, but objective 'regression' has "
                "none; remove class_weight or train objective='binary' or 'multiclass'",
            )

    def to_wire(self) -> dict[str, Any]:
        """A codec-friendly dict of every field."""
        return options_to_wire(self)

    @classmethod
    def from_wire(cls, tree: Any) -> SecureBoostConfig:
        """Rebuild and validate a config received from another party.

        Raises
        ------
        ConfigError
            If ``tree`` is not a mapping, names an unknown field or holds a bad value.
        """
        return options_from_wire(cls, tree, "SecureBoost config")
