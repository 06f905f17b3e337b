"""Which metric several runs are compared by when none is named (``rengo runs plot A B``,
``rengo runs compare``): a classifier's accuracy, a regression's R^2, a scorer's AUC (a
horizontal run's on the central test set, a vertical run's on the held-out customers), else
the loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rengo.tracking.store import RunStore

COMPARED_BY_DEFAULT = (
    "central_accuracy",
    "central_r2",
    "central_auc",
    "test_accuracy",
    "test_r2",
    "test_auc",
    "central_loss",
)
"""The metrics runs are compared by without one named: the first every run logged."""


def compared_metric(store: RunStore, run_ids: Sequence[str]) -> str:
    """The first of :data:`COMPARED_BY_DEFAULT` every run of ``run_ids`` logged, else the
    first of them (the comparison then names what each run has); the metrics' names are
    read, not their values."""
    # a run that logged nothing (interrupted before its first metric) is left out later
    logged = [keys for keys in (set(store.metric_keys(r)) for r in run_ids) if keys] or [set()]
    for name in COMPARED_BY_DEFAULT:
        if all(name in keys for keys in logged):
            return name
    return COMPARED_BY_DEFAULT[0]
