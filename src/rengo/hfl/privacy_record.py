"""What a run's record says about its privacy settings, so its epsilon can be audited from
the run store: the central DP mechanism's options (noise multiplier, clip norm, delta,
sampling rate, target epsilon, accountant, weighting) and secure aggregation's (graph degree,
threshold, quantisation, signing)."""

from __future__ import annotations

from typing import Any

from rengo.core.options import options_to_wire
from rengo.hfl.secagg import SecAggPlus
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.dp import DifferentialPrivacy


def privacy_settings(strategy: Strategy, workflow: object | None) -> dict[str, Any]:
    """``{"dp": {...}, "secagg": {...}}`` for what ``strategy`` and ``workflow`` run (each
    key only when that protection is on; empty without either).

    Parameters
    ----------
    strategy
        The run's strategy (central DP is :class:`DifferentialPrivacy` around another).
    workflow
        The run's fit workflow (secure aggregation is :class:`SecAggPlus`), or None.

    Returns
    -------
    dict
        Plain values, for the run's recorded config.
    """
    settings: dict[str, Any] = {}
    if isinstance(strategy, DifferentialPrivacy):
        settings["dp"] = {"kind": "central", **options_to_wire(strategy.dp)}
    if isinstance(workflow, SecAggPlus):
        settings["secagg"] = options_to_wire(workflow.config)
    return settings
