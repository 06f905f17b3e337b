"""What a run's record says about its privacy settings, so its epsilon can be audited from
the run store: the central DP mechanism's options (noise multiplier, clip norm, delta,
sampling rate, target epsilon, accountant, weighting) and secure aggregation's (graph degree,
threshold, quantisation, signing)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rengo.core.options import options_to_wire
from rengo.hfl.secagg import SecAggPlus
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.dp import DifferentialPrivacy
from rengo.privacy import dp_accounting_version

DP_ACCOUNTING = "dp_accounting"
"""The run config entry naming the ``dp-accounting`` release of a central-DP run (None when
it was not installed: the run then computed no epsilon)."""
RESUMED_UNDER = "resumed under dp-accounting "
"""How the event starts that a central-DP run resumed under another ``dp-accounting``
release than the one recorded (or one recorded before runs named it) logs."""

log = logging.getLogger("rengo.hfl")


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


def record_release_on_resume(
    store: object, run_id: str | None, config: Mapping[str, Any], done: int
) -> str | None:
    """Name, in a resumed run's record, the ``dp-accounting`` release it goes on with.

    A resume may change the release (as it may change rengo's): every epsilon recorded from
    round ``done + 1`` on is recomposed over all rounds with the installed one, a valid
    bound in its own right. The config entry :data:`DP_ACCOUNTING` is set to it (so the
    card names the release behind the epsilons recorded from then on; a run recorded before
    runs named it gets it filled in) and, where it was another or none, an event starting
    with :data:`RESUMED_UNDER` says from which round (a warning, also logged, when the
    recorded release was another; info when none was recorded).

    Parameters
    ----------
    store
        The run store (a :class:`rengo.tracking.RunStore`); one without
        ``record_resumed_setting`` records nothing.
    run_id
        The resumed run's id (None: nothing recorded).
    config
        The config the resuming process would record (central DP: with
        :data:`DP_ACCOUNTING`).
    done
        The rounds restored from the run's checkpoint.

    Returns
    -------
    str or None
        The event's text, or None where the release is the recorded one or the run has no
        central DP.
    """
    record = getattr(store, "record_resumed_setting", None)
    if DP_ACCOUNTING not in config or run_id is None or not callable(record):
        return None
    release = config[DP_ACCOUNTING]
    before = record(run_id, DP_ACCOUNTING, release)
    if before == release:
        return None
    first = done + 1
    earlier = f"rounds 1-{done}" if done > 1 else "round 1"
    if isinstance(before, str):
        level = "warning"
        text = (
            f"{RESUMED_UNDER}{release} ({earlier} accounted with {before}); every epsilon "
            f"from round {first} on is {release}'s, recomposed over all rounds"
            if done
            else f"{RESUMED_UNDER}{release} (the run started with {before}; no round was "
            f"kept); every epsilon from round 1 on is {release}'s"
        )
        log.warning("%s", text)
    else:
        level = "info"
        text = (
            f"{RESUMED_UNDER}{release}: the run did not record the release it started with; "
            f"every epsilon from round {first} on is {release}'s, recomposed over all rounds"
        )
        log.info("%s", text)
    log_event = getattr(store, "log_event", None)
    if callable(log_event):
        log_event(run_id, level, text, done or None)
    return text
