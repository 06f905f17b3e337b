"""An epsilon as text for someone to sign off: never below the bound it prints."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal


def epsilon_shown(epsilon: float) -> str:
    """``epsilon`` to 4 significant digits, rounded up: a privacy bound printed for someone
    to sign off must not read below the bound (2.27208 is shown as 2.273, not 2.272).

    Parameters
    ----------
    epsilon
        The accountant's epsilon.

    Returns
    -------
    str
        The shortest text of the smallest 4-significant-digit number at or above it (NaN and
        infinities as Python writes them).
    """
    if not math.isfinite(epsilon) or epsilon <= 0:
        return four_digits(epsilon)
    exact = Decimal(repr(float(epsilon)))
    step = Decimal(1).scaleb(exact.adjusted() - 3)
    return four_digits(float(exact.quantize(step, rounding=ROUND_CEILING)))


def four_digits(value: float) -> str:
    """A metric to 4 significant digits, as rengo's tables show numbers (``nan`` as such;
    from 10,000 up in scientific notation)."""
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.4e}"


def metric_text(name: str, value: float) -> str:
    """A named metric as text: an epsilon (a name ending ``dp_epsilon``: the run's
    ``dp_epsilon``, a client's ``train_dp_epsilon``) rounded up by :func:`epsilon_shown`,
    any other metric by :func:`four_digits`."""
    return epsilon_shown(value) if name.endswith("dp_epsilon") else four_digits(value)
