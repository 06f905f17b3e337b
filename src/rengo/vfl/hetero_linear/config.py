"""Settings of coordinated hetero linear regression: hetero LR's options, same defaults.

Every surface is generated from :class:`HeteroLinearConfig` (estimator keyword arguments,
``[vfl]`` job keys with ``algorithm = "hetero_linear"``, ``rengo vfl coordinator`` flags).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rengo.vfl.hetero_lr.config import LinearModelConfig


@dataclass(frozen=True)
class HeteroLinearConfig(LinearModelConfig):
    """Hyper-parameters of coordinated hetero linear regression (squared loss).

    The options of :class:`~rengo.vfl.hetero_lr.config.LinearModelConfig`: ``l2`` weights
    ``l2/2 * ||w||^2`` on the mean loss ``mean((u - y)^2) / 2`` (ridge with scikit-learn's
    ``alpha = n_rows * l2``; the intercept is not penalised); ``tol`` stops once the
    epoch's loss changes by less. Features and labels should be on a moderate scale (the
    job runner standardises features; scale large targets yourself): the encrypted
    residual ``u - y`` is a fixed-point number with ``residual_precision_bits`` fractional
    bits. ``key_bits`` below 2048 are for tests and benchmarks only.

    Raises
    ------
    OptionError
        Naming the first option whose value is out of range.
    """

    what: ClassVar[str] = "hetero linear regression config"
    classifies: ClassVar[bool] = False
