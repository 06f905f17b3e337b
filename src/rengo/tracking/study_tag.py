"""Which study a run is a cell of: ``rengo sweep`` records each cell's study in its config,
``rengo runs list --study`` and ``rengo runs compare --study`` find the cells by it.

Kept apart from the comparison's numpy so that listing runs stays light."""

from __future__ import annotations

from collections.abc import Mapping

from rengo.tracking.records import RunInfo

STUDY = "study"
"""The run config entry naming the study (``rengo sweep``) a run is a cell of."""


def study_of(run: RunInfo) -> str | None:
    """The study ``run`` is a cell of (``rengo sweep``), or None."""
    value = run.config.get(STUDY) if isinstance(run.config, Mapping) else None
    return value if isinstance(value, str) else None
