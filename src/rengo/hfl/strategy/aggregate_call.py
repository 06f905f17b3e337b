"""How the round loop (and a strategy that wraps another, such as DP-FedAvg) calls
``aggregate_fit`` with the round's generator, whatever signature the strategy has: ``rng`` by
name (positional or keyword-only), a fourth positional parameter, or none at all (the
previous release's three-parameter form, still run, with a deprecation warning that points
at the strategy's own ``aggregate_fit``)."""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from rengo.core.parameters import Parameters
from rengo.hfl.strategy.base import Aggregate, Strategy, WeightedSum, as_aggregate

RngPassing = Literal["keyword", "positional", "none"]


def rng_passing(method: Callable[..., Any]) -> RngPassing:
    """How ``aggregate_fit`` takes the round's generator: by name (``rng``), as a fourth
    positional parameter (or ``*args``), or not at all (the deprecated form)."""
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):  # builtins, C extensions: assume the current signature
        return "positional"
    params = list(signature.parameters.values())
    if "rng" in signature.parameters or any(p.kind is p.VAR_KEYWORD for p in params):
        return "keyword"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 4 or any(p.kind is p.VAR_POSITIONAL for p in params):
        return "positional"
    return "none"


def aggregate_with_rng(
    strategy: Strategy,
    server_round: int,
    parameters: Parameters,
    acc: WeightedSum,
    rng: np.random.Generator,
) -> Aggregate:
    """``strategy.aggregate_fit`` of the round, given ``rng`` the way it takes it.

    Parameters
    ----------
    strategy
        The strategy.
    server_round, parameters, acc
        The round, the model it started from and its accumulated results.
    rng
        The round's generator.

    Returns
    -------
    Aggregate
        The new model and the strategy's metrics.
    """
    how = rng_passing(strategy.aggregate_fit)
    if how == "keyword":
        result = strategy.aggregate_fit(server_round, parameters, acc, rng=rng)
    elif how == "positional":
        result = strategy.aggregate_fit(server_round, parameters, acc, rng)
    else:
        result = strategy.aggregate_fit(server_round, parameters, acc)
    return as_aggregate(result)


def warn_if_old_aggregate_fit(strategy: Strategy) -> None:
    """A ``DeprecationWarning`` for a strategy whose ``aggregate_fit`` takes no generator,
    attributed to that method's own file and line (where the fix goes; attributed to
    rengo, Python's default filters hid it)."""
    if rng_passing(strategy.aggregate_fit) != "none":
        return
    method = getattr(strategy.aggregate_fit, "__func__", strategy.aggregate_fit)
    message = (
        f"{type(strategy).__name__}.aggregate_fit(server_round, parameters, acc) is "
        "deprecated and stops working in rengo 0.3: add the round's generator as a fourth "
        "parameter, aggregate_fit(self, server_round, parameters, acc, rng=None)"
    )
    code = getattr(method, "__code__", None)
    module = getattr(method, "__module__", None)
    if code is None or module is None:
        warnings.warn(message, DeprecationWarning, stacklevel=3)
        return
    owner = sys.modules.get(module)
    registry = vars(owner).setdefault("__warningregistry__", {}) if owner is not None else None
    warnings.warn_explicit(
        message,
        DeprecationWarning,
        code.co_filename,
        code.co_firstlineno,
        module=module,
        registry=registry,
        module_globals=vars(owner) if owner is not None else None,
    )
