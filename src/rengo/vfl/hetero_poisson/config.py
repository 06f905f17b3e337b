"""Settings of coordinated hetero Poisson regression: hetero LR's options.

Every surface is generated from :class:`HeteroPoissonConfig` (estimator keyword arguments,
``[vfl]`` job keys with ``algorithm = "hetero_poisson"``, ``rengo vfl coordinator`` flags).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rengo.core.options import OptionError, option
from rengo.vfl.hetero_lr.config import LinearModelConfig


@dataclass(frozen=True)
class HeteroPoissonConfig(LinearModelConfig):
    """Hyper-parameters of coordinated hetero Poisson regression (log link).

    The options of :class:`~rengo.vfl.hetero_lr.config.LinearModelConfig`: ``l2`` weights
    ``l2/2 * ||w||^2`` on the mean loss ``mean(exp(u) - y u)`` (the intercept is not
    penalised); training stops once the epoch's loss stops improving by ``tol``, after
    ``epochs`` at most. ``optimizer="auto"`` is gradient descent on the loss divided by the
    label party's mean count, from the intercept ``log(mean y)``, so that the default
    ``learning_rate`` (0.5 here) suits counts of any size; ``"sgd"`` takes the same steps.
    ``"adam"`` is offered, but its steps of about ``learning_rate`` whatever the gradient
    circle an optimum whose curvature grows with the counts (32x scikit-learn's deviance at
    mean counts near 500). Newton-CG needs a quadratic loss: ``"newton"`` is refused.
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
    classifies: ClassVar[bool] = False

    learning_rate: float = option(
        0.5, "Step size on the loss divided by the mean count (first-order optimizers)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.optimizer == "newton":
            raise OptionError(
                "optimizer",
                "newton needs a quadratic loss and Poisson's is not: use 'auto' (gradient "
                "descent on the scaled loss), 'sgd' or 'adam'",
            )
