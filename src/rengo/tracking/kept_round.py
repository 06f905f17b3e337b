"""The round whose model a horizontal run with ``[early_stopping]`` keeps, read back from its
record: the run's own rule (:func:`rengo.hfl.early_stopping.best_round`) folded over the
watched metric it recorded, so ``rengo runs export --round best`` and a model card name the
round the run kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rengo.core.errors import ConfigError
from rengo.core.options import options_from_mapping
from rengo.tracking.records import RunInfo
from rengo.tracking.run_comparison import SETTINGS
from rengo.tracking.store import RunStore


@dataclass(frozen=True)
class KeptRound:
    """The round early stopping kept, with the metric it watched and that metric's value."""

    round: int
    metric: str
    value: float


def early_stopping_round(store: RunStore, run: RunInfo) -> KeptRound | None:
    """The best round by the run's recorded ``[early_stopping]`` rule, or None for a run
    recorded without ``[early_stopping]``.

    Parameters
    ----------
    store
        The run store.
    run
        The run.

    Returns
    -------
    KeptRound or None
        The kept round, its watched metric and value.

    Raises
    ------
    ConfigError
        The run has ``[early_stopping]`` but recorded no finite value of its metric, or its
        recorded rule is not one rengo reads.
    """
    from rengo.hfl.early_stopping import EarlyStopping, best_round

    settings = run.config.get(SETTINGS)
    rule = settings.get("early_stopping") if isinstance(settings, Mapping) else None
    if not isinstance(rule, Mapping):
        return None
    recorded = dict(rule)
    metric = recorded.get("metric")
    if recorded.get("mode", "auto") == "auto" and isinstance(metric, str):
        from rengo.metrics import better_direction

        if better_direction(metric) is None:
            # an operating point watched with mode auto, recorded before rengo refused it:
            # the run kept its largest value, as auto then read every such name
            recorded["mode"] = "max"
    watch = options_from_mapping(EarlyStopping, recorded, where=f"run {run.run_id}: ")
    curve = [
        (r.round, r.metrics[watch.metric])
        for r in store.rounds(run.run_id)
        if watch.metric in r.metrics
    ]
    kept = best_round(curve, watch.lower_is_better, watch.min_delta)
    if kept is None:
        raise ConfigError(f"run {run.run_id} recorded no finite {watch.metric}")
    return KeptRound(kept[0], watch.metric, kept[1])
