"""Whether a run may be resumed with the settings it is given: a resumed run must go on as it
started (the same job, strategy, seed and options), or its later rounds answer another
question than its first ones under the same run id."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from rengo.core.differences import value_differences
from rengo.tracking.json_text import dumps_json, loads_json


def settings_differences(
    saved: Mapping[str, Any], now: Mapping[str, Any], may_change: Collection[str] = ()
) -> list[str]:
    """The entries in which ``now`` (what a resuming process would record) differs from the
    run's recorded config ``saved``, each as ``"key SAVED, now NOW"`` (just the key when the
    values are long), in key order.

    ``now`` is compared as the store would record it (JSON). An entry the run did not record
    (an older release's run) is not compared, nor those in ``may_change``; each entry as
    :func:`rengo.core.differences.value_differences` names it.
    """
    recorded = loads_json(dumps_json(dict(now), "run config"))
    differs: list[str] = []
    for key in sorted(set(saved) & set(recorded) - set(may_change)):
        differs.extend(value_differences(key, saved[key], recorded[key]))
    return differs
