"""How two recorded settings differ, named for a person: every refusal to resume a run with
other settings (a horizontal run's config, a vertical run's plan) says what differs the same
way, ``train.lr 0.2, now 0.3``, down to the nested entry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_SHOWN = 120
"""Most characters of the two values shown beside a differing entry (else just its name)."""


def value_differences(key: str, saved: Any, now: Any) -> list[str]:
    """How ``now`` differs from ``saved`` under ``key``, as ``"key SAVED, now NOW"`` (just
    the key when the values are long); a mapping both have is compared entry by entry, so a
    difference deep in it is named by its path (``job_settings.train.lr``). Floats are equal
    within rounding (a recomputed input scaling); a missing entry reads ``None``.

    Parameters
    ----------
    key
        The name of the entry compared.
    saved, now
        Its recorded value and the value it would have now (JSON-like: numbers, strings,
        lists, mappings).

    Returns
    -------
    list[str]
        One line per differing entry, in key order (empty when they agree).
    """
    if isinstance(saved, Mapping) and isinstance(now, Mapping):
        return [
            line
            for sub in sorted(set(saved) | set(now), key=str)
            for line in value_differences(f"{key}.{sub}", saved.get(sub), now.get(sub))
        ]
    if _same_value(saved, now):
        return []
    short = len(repr(saved)) + len(repr(now)) <= _SHOWN
    return [f"{key} {saved!r}, now {now!r}" if short else key]


def _same_value(saved: Any, now: Any) -> bool:
    """Equal values, floats within rounding."""
    if isinstance(saved, float) or isinstance(now, float):
        return (
            isinstance(saved, (int, float))
            and isinstance(now, (int, float))
            and math.isclose(saved, now, rel_tol=1e-9, abs_tol=1e-12)
        )
    if isinstance(saved, list) and isinstance(now, list):
        return len(saved) == len(now) and all(map(_same_value, saved, now))
    if isinstance(saved, Mapping) and isinstance(now, Mapping):
        return saved.keys() == now.keys() and all(_same_value(saved[k], now[k]) for k in saved)
    return bool(saved == now)
