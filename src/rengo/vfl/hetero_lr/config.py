"""Training settings of coordinated hetero LR, agreed by all parties at set-up.

The label party (guest) sends its :class:`HeteroLRConfig` to every other role as a plain
dict, so every party runs the same number of epochs, batches and precision.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, get_args

from rengo.core.errors import ConfigError
from rengo.vfl.hetero_lr_math import OptimizerName, Schedule
from rengo.vfl.hetero_lr_obfuscators import OBFUSCATOR_SOURCES, ObfuscatorSource


@dataclass(frozen=True)
class HeteroLRConfig:
    """Hyper-parameters of coordinated hetero LR.

    ``l2`` weights ``l2/2 * ||w||^2`` added to the mean loss (the intercept is not penalised);
    it matches scikit-learn's ``C = 1 / (n_rows * l2)``. ``tol`` stops training once the
    epoch's Taylor loss changes by less than it (0 disables early stopping).
    ``residual_precision_bits`` are the fractional bits of encrypted partial predictors,
    ``feature_precision_bits`` those of features in ``Enc(d)^T X``. ``obfuscator_source``
    says who makes the guest's and hosts' encryption randomness (see
    :mod:`rengo.vfl.hetero_lr_obfuscators`: ``"coordinator"`` is faster, ``"local"`` does not
    trust the coordinator to deal good randomness).
    """

    epochs: int = 10
    batch_size: int = 1024
    learning_rate: float = 0.1
    l2: float = 0.0
    tol: float = 1e-4
    lr_schedule: Schedule = "constant"
    lr_decay: float = 0.5
    lr_step_epochs: int = 10
    optimizer: OptimizerName = "adam"
    fit_intercept: bool = True
    compute_loss: bool = True
    residual_precision_bits: int = 32
    feature_precision_bits: int = 16
    obfuscator_source: ObfuscatorSource = "local"

    def __post_init__(self) -> None:
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "lr_step_epochs": self.lr_step_epochs,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value!r}")
        if self.l2 < 0 or self.tol < 0:
            raise ConfigError("l2 and tol must be >= 0")
        if self.lr_schedule not in get_args(Schedule):
            raise ConfigError(f"lr_schedule must be one of {get_args(Schedule)}")
        if self.optimizer not in get_args(OptimizerName):
            raise ConfigError(f"optimizer must be one of {get_args(OptimizerName)}")
        if self.obfuscator_source not in OBFUSCATOR_SOURCES:
            raise ConfigError(f"obfuscator_source must be one of {OBFUSCATOR_SOURCES}")
        if not 8 <= self.residual_precision_bits <= 64:
            raise ConfigError("residual_precision_bits must lie in [8, 64]")
        if not 4 <= self.feature_precision_bits <= 40:
            raise ConfigError("feature_precision_bits must lie in [4, 40]")

    def to_wire(self) -> dict[str, Any]:
        """A codec-friendly dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, tree: Any) -> HeteroLRConfig:
        """Rebuild and validate a config received from the label party."""
        if not isinstance(tree, dict):
            raise ConfigError("hetero LR config must be a mapping")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(tree) - names
        if unknown:
            raise ConfigError(f"unknown hetero LR config fields {sorted(unknown)}")
        try:
            return cls(**tree)
        except TypeError as exc:
            raise ConfigError(f"bad hetero LR config: {exc}") from exc
