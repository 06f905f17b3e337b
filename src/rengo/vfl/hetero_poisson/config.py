"""Settings of coordinated hetero Poisson regression: hetero LR's options.

Every surface is generated from :class:`HeteroPoissonConfig` (estimator keyword arguments,
``[vfl]`` job keys with ``algorithm = "hetero_poisson"``, ``rengo vfl coordinator`` flags).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rengo.core.options import OptionError
from rengo.vfl.hetero_lr.config import LinearModelConfig


@dataclass(frozen=True)
class HeteroPoissonConfig(LinearModelConfig):
    """Hyper-parameters of coordinated hetero Poisson regression (log link).

    The options of :class:`~rengo.vfl.hetero_lr.config.LinearModelConfig`: ``l2`` weights
    ``l2/2 * ||w||^2`` on the mean loss ``mean(exp(u) - y u)`` (the intercept is not
    penalised); training stops once the epoch's loss stops improving by ``tol``, after
    ``epochs`` at most. ``optimizer="auto"`` is Adam here (Newton-CG needs a quadratic
    loss; ``"newton"`` is refused).
    ``residual_precision_bits`` are the fractional bits of each factor ``exp(u_k)`` of the
    encrypted chain (see :mod:`rengo.vfl.hetero_poisson.roles`); the residual carries
    ``(hosts + 1)`` times as many, which the key must hold. ``key_bits`` below 2048 are for
    tests and benchmarks only.

    Raises
    ------
    OptionError
        Naming the first option whose value is out of range.
    """

    what: ClassVar[str] = "hetero Poisson regression config"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.optimizer == "newton":
            raise OptionError(
                "optimizer",
                "newton needs a quadratic loss and Poisson's is not: use 'auto' (Adam), "
                "'adam' or 'sgd'",
            )
