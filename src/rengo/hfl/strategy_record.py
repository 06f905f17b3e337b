"""What a run's record says about its strategy's settings (sampling fractions and minimums,
server learning rates, robust rules' parameters...), so that a resume with other settings is
refused, as one with another seed or strategy is."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from typing import Any

from rengo.hfl.strategy.base import Strategy

_SCALARS = (bool, int, float, str)


def strategy_settings(strategy: Strategy) -> dict[str, Any]:
    """The plain-valued init fields of ``strategy`` (nested strategies and option dataclasses
    as dicts); callables, arrays and server state are left out.

    Parameters
    ----------
    strategy
        The run's strategy.

    Returns
    -------
    dict
        Field name -> value, for the run's recorded config (empty for a strategy that is not
        a dataclass).
    """
    return _plain_fields(strategy) if is_dataclass(strategy) else {}


def _plain_fields(instance: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for spec in fields(instance):
        if not spec.init or spec.name.startswith("_"):
            continue
        value = _plain(getattr(instance, spec.name))
        if value is not _SKIP:
            settings[spec.name] = value
    return settings


_SKIP = object()


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data, or ``_SKIP`` for what is not a setting a person wrote."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, _SCALARS) for v in value):
        return list(value)
    if is_dataclass(value) and not isinstance(value, type):
        return _plain_fields(value)
    return _SKIP
