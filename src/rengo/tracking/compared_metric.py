"""Which metric several runs are compared by when none is named (``rengo runs plot A B``,
``rengo runs compare``): a classifier's accuracy, a regression's R^2, a count model's D^2 of
the Poisson deviance, a scorer's AUC (a horizontal run's on the central test set, a vertical
run's on the held-out customers), else the loss; and the refusal to compare a loss that is
not the same quantity in every run (a Poisson run's half deviance beside a least-squares
run's MSE)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rengo.core.errors import DataError

if TYPE_CHECKING:
    from rengo.tracking.records import RunInfo
    from rengo.tracking.store import RunStore

COMPARED_BY_DEFAULT = (
    "central_accuracy",
    "central_r2",
    "central_d2_poisson",
    "central_auc",
    "test_accuracy",
    "test_r2",
    "test_d2_poisson",
    "test_auc",
    "central_loss",
)
"""The metrics runs are compared by without one named: the first every run logged."""

POISSON_LOSS = "half the mean Poisson deviance of counts"
"""What a count model's ``*loss`` metrics measure (horizontal ``model = "poisson"``,
vertical ``hetero_poisson``)."""


def loss_measured(config: Mapping[str, Any]) -> str | None:
    """What a run's ``*loss`` metrics measure, as far as comparing runs needs: the Poisson
    deviance for a count model, None for the other models (least squares, cross-entropy;
    each run's own model)."""
    if config.get("model") == "poisson" or config.get("algorithm") == "hetero_poisson":
        return POISSON_LOSS
    return None


def check_one_loss(
    metric: str, runs: Sequence[RunInfo], logged: Mapping[str, Iterable[str]]
) -> None:
    """Refuse to compare a ``*loss`` metric of count-model runs with other runs': one name,
    two quantities (a half Poisson deviance beside a mean squared error or a cross-entropy).

    Parameters
    ----------
    metric
        The metric compared.
    runs
        The runs compared.
    logged
        Each run's logged metric names, by run id (the error suggests those every run has).

    Raises
    ------
    DataError
        Naming the count-model runs and the others, and the metrics every run logged
        besides the losses.
    """
    if not metric.endswith("loss"):
        return
    counts = [run.run_id for run in runs if loss_measured(run.config) == POISSON_LOSS]
    others = [run.run_id for run in runs if run.run_id not in counts]
    if not counts or not others:
        return
    common = set.intersection(*(set(logged[run.run_id]) for run in runs))
    have = ", ".join(sorted(m for m in common if not m.endswith("loss"))) or "none"
    raise DataError(
        f"{metric} is {POISSON_LOSS} in count-model run(s) {', '.join(counts)} and another "
        f"model's loss (a squared error, a cross-entropy) in {', '.join(others)}: not one "
        f"quantity; compare them by a metric every run logged (--metric; besides the losses: "
        f"{have}), or compare the count models apart"
    )


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
