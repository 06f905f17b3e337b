"""Whether a run may be resumed with the settings it is given: a resumed run must go on as it
started (the same job, strategy, seed and options), or its later rounds answer another
question than its first ones under the same run id."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from rengo.tracking.json_text import dumps_json, loads_json


def settings_differences(
    saved: Mapping[str, Any], now: Mapping[str, Any], may_change: Collection[str] = ()
) -> list[str]:
    """The entries in which ``now`` (what a resuming process would record) differs from the
    run's recorded config ``saved``, each as ``"key SAVED, now NOW"`` (just the key when the
    values are long), in key order.

    ``now`` is compared as the store would record it (JSON). An entry the run did not record
    (an older release's run) is not compared, nor those in ``may_change``; floats are equal
    within rounding (a recomputed input scaling).
    """
    recorded = loads_json(dumps_json(dict(now), "run config"))
    differs: list[str] = []
    for key in sorted(set(saved) & set(recorded) - set(may_change)):
        differs.extend(_differences(key, saved[key], recorded[key]))
    return differs


def _differences(key: str, saved: Any, now: Any) -> list[str]:
    """How ``now`` differs from ``saved`` under ``key``; a table both have is compared entry
    by entry, so a difference deep in it is named by its path (``job_settings.train.lr``)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        found = [
            part
            for sub in sorted(set(saved) | set(now))
            for part in _differences(f"{key}.{sub}", saved.get(sub), now.get(sub))
        ]
        return found
    return [] if _same_value(saved, now) else [_difference(key, saved, now)]


def _same_value(saved: Any, now: Any) -> bool:
    """Equal JSON values, floats within rounding."""
    if isinstance(saved, float) or isinstance(now, float):
        return (
            isinstance(saved, (int, float))
            and isinstance(now, (int, float))
            and math.isclose(saved, now, rel_tol=1e-9, abs_tol=1e-12)
        )
    if isinstance(saved, list) and isinstance(now, list):
        return len(saved) == len(now) and all(map(_same_value, saved, now))
    if isinstance(saved, dict) and isinstance(now, dict):
        return saved.keys() == now.keys() and all(_same_value(saved[k], now[k]) for k in saved)
    return bool(saved == now)


def _difference(key: str, saved: Any, now: Any) -> str:
    short = len(repr(saved)) + len(repr(now)) <= 120
    return f"{key} {saved!r}, now {now!r}" if short else key
