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
from rengo.privacy import dp_accounting_version

DP_ACCOUNTING = "dp_accounting"
"""The run config entry naming the ``dp-accounting`` release of a central-DP run (None when
it was not installed: the run then computed no epsilon)."""


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
        Plain values, for the run's recorded config (with central DP also
        :data:`DP_ACCOUNTING`).
    """
    settings: dict[str, Any] = {}
    if isinstance(strategy, DifferentialPrivacy):
        settings["dp"] = {"kind": "central", **options_to_wire(strategy.dp)}
        # the library every epsilon is computed with: its releases may bound a little
        # differently, so whoever rechecks the run's epsilon needs the same one
        settings[DP_ACCOUNTING] = dp_accounting_version()
    if isinstance(workflow, SecAggPlus):
        settings["secagg"] = options_to_wire(workflow.config)
    return settings
