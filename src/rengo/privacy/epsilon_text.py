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


EPSILON_METRICS: frozenset[str] = frozenset({"dp_epsilon", "train_dp_epsilon"})
"""The metrics that are epsilons: a round's ``dp_epsilon`` (central DP), a client's own
``dp_epsilon`` fit metric (local DP) and the round's ``train_dp_epsilon`` (the clients' mean of
it). Exact names: a metric, tournament participant or setting whose name merely ends so is
not one. The dashboard's ``isEpsilonMetric`` (``rengo/ui/static/app.js``) holds the same two
names itself, as the page needs them before any data arrives; a test
(``tests/privacy/test_epsilon_everywhere.py``) runs both rules over these names, their phased
forms and near misses, so page and terminal cannot disagree unnoticed."""


def is_epsilon_metric(name: str | None) -> bool:
    """Whether the metric ``name`` is an epsilon (:data:`EPSILON_METRICS`), shown rounded up.

    Parameters
    ----------
    name
        A metric name, also as the client-metric tables name one (``"fit dp_epsilon"``: the
        phase, a space, the metric); None: no metric.

    Returns
    -------
    bool
        True for an epsilon.
    """
    if name is None:
        return False
    phase, _, metric = name.rpartition(" ")
    return metric in EPSILON_METRICS and phase in ("", "fit", "evaluate")


def metric_text(name: str | None, value: float) -> str:
    """A named metric as text: an epsilon (:func:`is_epsilon_metric`) rounded up by
    :func:`epsilon_shown`, any other metric by :func:`four_digits`."""
    return epsilon_shown(value) if is_epsilon_metric(name) else four_digits(value)
