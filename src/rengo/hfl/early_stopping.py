"""Early stopping of a horizontal run: stop once a round metric has stopped improving.

Every round costs each party compute and bandwidth, so a run whose model has stopped getting
better is worth ending. :class:`EarlyStopping` watches one metric the coordinator records each
round (``central_loss`` by default: the loss on the held-out split) and ends the run cleanly
once ``patience`` rounds in a row have not improved on the best value by more than
``min_delta``: the patience rule of Prechelt ("Early Stopping - But When?", Neural Networks:
Tricks of the Trade, 1998) as Keras's ``EarlyStopping`` applies it. The rounds run stand (the
run completes, the reason recorded); the best round's checkpoint is kept whatever
``[checkpoints]`` prunes, so its model can be exported (``rengo runs export RUN --round
best``, :func:`rengo.tracking.model_export.load_model`).

Every decision is a function of the recorded metrics alone (:func:`best_round` folds the
same rule over a run's rounds), so a resumed run stops where an uninterrupted one does and an
export finds the round the run kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rengo.core.errors import ConfigError
from rengo.core.messages import FitResult
from rengo.core.options import OptionError, check_options, option
from rengo.core.parameters import Parameters
from rengo.metrics import better_direction, lower_is_better

__all__ = ["EarlyStopping", "best_round", "improves"]

Mode = Literal["auto", "min", "max"]


def improves(value: float, best: float | None, lower: bool, min_delta: float) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (in the metric's better
    direction: smaller when ``lower``). The first finite value always does; a NaN or infinite
    one (a diverged model) never does."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if lower else value > best + min_delta


def best_round(
    curve: Iterable[tuple[int, float]], lower: bool, min_delta: float = 0.0
) -> tuple[int, float] | None:
    """The round early stopping keeps from a run's ``(round, value)`` curve, and its value:
    the last round that improved on the best before it by more than ``min_delta``
    (:func:`improves`), rounds taken in order. None when no value is finite.

    Parameters
    ----------
    curve
        The watched metric's value per round, in round order (rounds without it left out).
    lower
        Whether smaller is better.
    min_delta
        The smallest change that counts as an improvement.
    """
    kept: tuple[int, float] | None = None
    for server_round, value in curve:
        if improves(float(value), None if kept is None else kept[1], lower, min_delta):
            kept = (server_round, float(value))
    return kept


@dataclass
class _Watch:
    """What early stopping knows after the rounds it saw: the best round and value so far,
    and how many rounds since have not improved on it."""

    best_round: int | None = None
    best: float | None = None
    since_best: int = 0
    seen: bool = False  # whether any round reported the metric
    last_round: int = 0  # the last round folded in (a round not after it starts a new run)


@dataclass
class EarlyStopping:
    """Stop a horizontal run once a round metric has not improved for ``patience`` rounds.

    Pass it among a run's observers (``simulate(..., observers=[EarlyStopping(patience=5)])``,
    ``serve_coordinator(..., observers=[...])``) or set a job file's ``[early_stopping]``
    section. After each round the coordinator records, it compares the round's ``metric``
    with the best value so far (:func:`improves`); once ``patience`` rounds in a row have
    not improved on it, the run ends there, completed, with the reason logged, recorded
    among its events and in :attr:`History.stopped <rengo.hfl.History>`. The best round's
    checkpoint is kept whatever the run's :class:`~rengo.hfl.CheckpointRetention` prunes
    (when that round was checkpointed at all: a coordinator's ``checkpoint_every``).

    Its state (best round, best value, rounds since) is in every round checkpoint, so a
    resumed run stops where an uninterrupted one would. One instance watches one run.

    Parameters
    ----------
    metric
        A round metric as recorded: ``central_loss`` (the default, the held-out split's
        loss), ``central_accuracy``, ``central_r2``, ``eval_loss`` (the clients' own test
        rows), ``train_loss``...
    patience
        Rounds in a row without improvement before the run stops (at least 1).
    min_delta
        The smallest change of the metric that counts as an improvement (at least 0).
    mode
        ``"min"``: smaller is better; ``"max"``: larger is better; ``"auto"`` (default):
        from the metric's name (:func:`rengo.metrics.lower_is_better`: a loss, an error,
        an RMSE or MAE is better smaller; accuracy, AUC, R^2 larger).

    Raises
    ------
    OptionError
        For an empty ``metric``, ``patience`` below 1, a negative or non-finite
        ``min_delta``, another ``mode``, or ``mode = "auto"`` for an operating point (a
        ``*_threshold``: :func:`rengo.metrics.better_direction`).
    ConfigError
        From the first round the run records, when that round's metrics have no ``metric``
        (naming those it has): a misspelt name fails the run after one round rather than
        never stopping it.
    """

    metric: str = option("central_loss", "The round metric watched, as recorded.")
    patience: int = option(
        5, "Rounds in a row without improvement before the run stops.", ge=1, le=1_000_000
    )
    min_delta: float = option(0.0, "The smallest change that counts as an improvement.", ge=0)
    mode: Mode = option(
        "auto", "min: smaller is better; max: larger; auto: from the metric's name."
    )

    def __post_init__(self) -> None:
        check_options(self)
        # state, not a setting: not a field, so never in a run's recorded settings
        self._watch = _Watch()
        if not self.metric.strip():
            raise OptionError("metric", "must name a round metric (e.g. central_loss)")
        if not math.isfinite(self.min_delta):
            raise OptionError("min_delta", f"must be finite, got {self.min_delta!r}")
        if self.mode == "auto" and better_direction(self.metric) is None:
            raise OptionError(
                "mode",
                f"{self.metric} is an operating point (a decision threshold), not a score: "
                "no value of it is better; set mode = 'min' or 'max', or watch a score",
            )

    @property
    def lower_is_better(self) -> bool:
        """Whether a smaller value of :attr:`metric` is better."""
        if self.mode == "auto":
            return lower_is_better(self.metric)
        return self.mode == "min"

    @property
    def best_round(self) -> int | None:
        """The best round so far (None before any round reported a finite value)."""
        return self._watch.best_round

    @property
    def best(self) -> float | None:
        """The metric's value in :attr:`best_round`."""
        return self._watch.best

    # -- the coordinator's observer hooks -------------------------------------------------------
    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: FitResult
    ) -> None:
        """Nothing: early stopping reads only each round's recorded metrics."""

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
    ) -> None:
        """Fold the round's value of :attr:`metric` in; a round without it counts as one
        without improvement, except before any round had it when the round recorded no
        metric of its family either (``eval_*``: every evaluation failed) - a misspelt or
        unavailable metric: :class:`ConfigError`. A round not after the last one folded in
        starts a new run (an instance used again)."""
        if server_round <= self._watch.last_round:
            self._watch = _Watch()
        watch = self._watch
        watch.last_round = server_round
        value = metrics.get(self.metric)
        family = self.metric.split("_", 1)[0] + "_"
        if value is None and not watch.seen and not any(k.startswith(family) for k in metrics):
            watch.since_best += 1  # no figure of its family this round (evaluation failed)
            return
        if value is None and not watch.seen:
            have = ", ".join(sorted(metrics)) or "none"
            raise ConfigError(
                f"early stopping watches {self.metric!r}, which round {server_round} did not "
                f"record (its metrics: {have}): name one of them (central_* needs a held-out "
                "split, eval_* federated evaluation)"
            )
        if value is not None:
            watch.seen = True
            if improves(float(value), watch.best, self.lower_is_better, self.min_delta):
                watch.best_round, watch.best, watch.since_best = server_round, float(value), 0
                return
        watch.since_best += 1

    def stop_reason(self) -> str | None:
        """Why the run should end after the round just recorded, or None to go on."""
        watch = self._watch
        if watch.since_best < self.patience:
            return None
        if watch.best_round is None:
            return (
                f"early stopping: {self.metric} has not been finite for {watch.since_best} "
                "rounds (a diverged model)"
            )
        better = "lower" if self.lower_is_better else "higher"
        by = f" by more than {self.min_delta:g}" if self.min_delta else ""
        return (
            f"early stopping: {self.metric} has not got {better}{by} for {watch.since_best} "
            f"rounds; the best was {watch.best:.6g} in round {watch.best_round}, whose "
            "model is kept (rengo runs export RUN --round best)"
        )

    def pinned_rounds(self) -> tuple[int, ...]:
        """The rounds whose checkpoints must stay: the best one."""
        return () if self._watch.best_round is None else (self._watch.best_round,)

    def observer_state(self) -> dict[str, Any]:
        """The watch, as codec values, for the round checkpoint."""
        watch = self._watch
        return {
            "best_round": -1 if watch.best_round is None else watch.best_round,
            "best": math.nan if watch.best is None else watch.best,
            "since_best": watch.since_best,
            "seen": watch.seen,
            "last_round": watch.last_round,
        }

    def load_observer_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`observer_state`'s output (a resumed run)."""
        try:
            best_at = int(state["best_round"])
            best = float(state["best"])
            self._watch = _Watch(
                best_round=None if best_at < 0 else best_at,
                best=None if best_at < 0 else best,
                since_best=int(state["since_best"]),
                seen=bool(state["seen"]),
                last_round=int(state.get("last_round", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"early stopping's checkpointed state is malformed: {exc}") from None
