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
        return f"{epsilon:.4g}"
    exact = Decimal(repr(float(epsilon)))
    step = Decimal(1).scaleb(exact.adjusted() - 3)
    shown = float(exact.quantize(step, rounding=ROUND_CEILING))
    return f"{shown:.4g}" if shown < 1e4 else f"{shown:.4e}"
