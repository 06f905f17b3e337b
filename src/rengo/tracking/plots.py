"""PNG plots of recorded runs: one run's metrics by family, or one metric across runs.

Figures are built with matplotlib's object API on the Agg canvas, never pyplot, so plotting
needs no display, touches no global figure state and is safe off the main thread.
matplotlib is imported on first use, keeping ``import rengo.tracking`` (and the CLI) fast.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rengo.core.errors import DataError
from rengo.tracking.compared_metric import check_one_loss
from rengo.tracking.store import RunStore

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from rengo.tracking.run_comparison import Comparison

_FAMILIES = (
    "loss",
    "accuracy",
    "acc",
    "auc",
    "f1",
    "precision",
    "recall",
    "rmse",
    "mse",
    "mae",
    "r2",
)
_SUBPLOT_WIDTH_IN = 5.0
_SUBPLOT_HEIGHT_IN = 3.6
_DPI = 110
MAX_PANELS = 24
"""Most subplots one PNG draws (those of known measures first, :func:`drawn_panels`): a
run recorded with 2,563 metric families (one party naming 32 new metrics a round, before
rengo counted a round's metric only when half its results report it) kept
``rengo runs plot`` busy past five minutes at 5.4 GB."""


def metric_family(key: str) -> str:
    """Group a metric name by what it measures: ``eval_loss`` and ``train_loss`` -> ``loss``.

    The last ``_``-separated token that is a known measure names the family (``acc`` counts
    as ``accuracy``); a metric with none is a family of its own.
    """
    for token in reversed(key.lower().split("_")):
        if token in _FAMILIES:
            return "accuracy" if token == "acc" else token
    return key


def drawn_panels(panels: list[str]) -> tuple[list[str], int]:
    """The first :data:`MAX_PANELS` of ``panels`` (names of metric families or client
    metrics) to draw, those of a known measure (loss, accuracy, ...) first, each group in
    its order; and how many are left out."""
    known = [p for p in panels if metric_family(p.rsplit(" ", 1)[-1]) in _FAMILIES]
    seen = set(known)
    drawn = (known + [p for p in panels if p not in seen])[:MAX_PANELS]
    return drawn, len(panels) - len(drawn)


def _left_out(count: int, listed_by: str) -> str:
    """The title's note of panels not drawn, naming the command that lists them all (empty
    for none)."""
    if not count:
        return ""
    return f" ({count} more not drawn; {listed_by} lists them all)"


def _new_figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png")
    return target


def _round_axis(ax: Axes) -> None:
    """Label the x axis with whole round numbers only."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)


def _xy(points: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [r for r, _ in points], [v for _, v in points]


def plot_run(store: RunStore, run_id: str, path: str | os.PathLike[str]) -> Path:
    """Write a PNG of every per-round metric of one run, one subplot per metric family.

    Parameters
    ----------
    store
        The run store that recorded the run.
    run_id
        The run's full id or a unique prefix.
    path
        Where to write the PNG (missing folders are made).

    Returns
    -------
    Path
        ``path``, written.

    Raises
    ------
    DataError
        If the run logged no per-round metric.
    UnknownRunError, AmbiguousRunError
        If ``run_id`` matches no run, or several.
    """
    run = store.get_run(run_id)
    series = store.round_metrics(run.run_id)
    if not series:
        raise DataError(f"run {run.run_id!r} has no per-round metrics to plot")
    families: dict[str, list[str]] = {}
    for key in sorted(series):
        families.setdefault(metric_family(key), []).append(key)
    drawn, left_out = drawn_panels(list(families))
    columns = min(len(drawn), 2)
    rows = math.ceil(len(drawn) / columns)
    figure = _new_figure(_SUBPLOT_WIDTH_IN * columns, _SUBPLOT_HEIGHT_IN * rows + 0.4)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, family in zip(axes, drawn, strict=False):
        keys = families[family]
        for key in keys:
            rounds, values = _xy(series[key])
            ax.plot(rounds, values, marker="o", markersize=3, label=key)
        ax.set_title(family)
        _round_axis(ax)
        ax.legend(fontsize="small")
    for ax in axes[len(drawn) :]:
        ax.set_visible(False)
    title = run.run_id if run.name is None else f"{run.name} ({run.run_id})"
    figure.suptitle(
        f"{title} - {run.kind}, {run.status}{_left_out(left_out, 'rengo runs metrics')}"
    )
    return _save(figure, path)


def plot_runs(
    store: RunStore,
    run_ids: list[str],
    metric: str,
    path: str | os.PathLike[str],
    baselines: Mapping[str, float] | None = None,
) -> Path:
    """Write a PNG comparing one metric across runs (e.g. FedAvg vs FedAdam) on one axis.

    Every run must have logged ``metric``; a run without it is an error naming the metrics
    it does have, rather than a comparison silently missing a line. ``baselines`` draws
    labelled horizontal lines (e.g. ``{"centralised, all rows pooled": 0.975}``), what the
    runs are measured against.

    Parameters
    ----------
    store
        The run store that recorded the runs.
    run_ids
        The runs to compare (full ids or unique prefixes), one line each.
    metric
        The per-round metric to draw (``"central_accuracy"``...).
    path
        Where to write the PNG (missing folders are made).
    baselines
        Label -> value of horizontal reference lines; None: none.

    Returns
    -------
    Path
        ``path``, written.

    Raises
    ------
    DataError
        If ``run_ids`` is empty, a run did not log ``metric``, or ``metric`` is a loss of
        count-model runs and of others
        (:func:`~rengo.tracking.compared_metric.check_one_loss`).
    UnknownRunError, AmbiguousRunError
        If a run id matches no run, or several.
    """
    if not run_ids:
        raise DataError("plot_runs needs at least one run id")
    runs = [store.get_run(run_id) for run_id in run_ids]
    lines: list[tuple[str, list[tuple[int, float]]]] = []
    logged: dict[str, list[str]] = {}
    for run in runs:
        series = store.round_metrics(run.run_id)
        if metric not in series:
            have = ", ".join(sorted(series)) or "none"
            raise DataError(f"run {run.run_id!r} has no metric {metric!r} (it has: {have})")
        label = run.run_id if run.name is None else f"{run.name} ({run.run_id})"
        lines.append((label, series[metric]))
        logged[run.run_id] = list(series)
    check_one_loss(metric, runs, logged)
    figure = _new_figure(7.5, 4.5)
    ax = figure.subplots()
    for label, points in lines:
        rounds, values = _xy(points)
        ax.plot(rounds, values, marker="o", markersize=3, label=label)
    styles = ("--", ":", "-.")
    for k, (label, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, color="black", linestyle=styles[k % 3], linewidth=1.2, label=label)
    _round_axis(ax)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per round")
    ax.legend(fontsize="small")
    return _save(figure, path)


def plot_comparison(comparison: Comparison, path: str | os.PathLike[str]) -> Path:
    """Write a PNG of a comparison's metric per round: one line per group, the mean over its
    runs, in a band of one standard deviation either side (none for a group of one run).

    Parameters
    ----------
    comparison
        What :func:`~rengo.tracking.run_comparison.compare_runs` found.
    path
        Where to write the PNG (missing folders are made).

    Returns
    -------
    Path
        ``path``, written.
    """
    import numpy as np

    figure = _new_figure(10.5, 4.5)
    ax = figure.subplots()
    for group, label in zip(comparison.groups, comparison.labels(), strict=True):
        rounds, mean, sd = group.band()
        low, high = np.subtract(mean, sd), np.add(mean, sd)
        (line,) = ax.plot(
            rounds, mean, marker="o", markersize=3, label=f"{label} (n={len(group.runs)})"
        )
        ax.fill_between(rounds, low, high, alpha=0.2, color=line.get_color(), linewidth=0)
    _round_axis(ax)
    ax.set_ylabel(comparison.metric)
    ax.set_title(f"{comparison.metric} per round: mean ± sd over each group's runs")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def plot_client_metrics(store: RunStore, run_id: str, path: str | os.PathLike[str]) -> Path:
    """Write a PNG of how each client metric spreads over the clients, round by round: the
    mean over clients, the worst and best 10 % (q-FFL's fairness view) and the min-max band,
    one subplot per ``"<phase> <metric>"``, over the completed rounds (a round cut short
    holds a few clients' figures, not the round's).

    Parameters
    ----------
    store
        The run store.
    run_id
        The run (full id or unique prefix).
    path
        Where the PNG goes.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    DataError
        If no client of the run reported a numeric metric in a completed round (a vertical
        run, clients that return none, or a run cut short in its first round).
    """
    from rengo.tracking.client_spread import client_metric_spread
    from rengo.tracking.round_coverage import round_coverage

    run = store.get_run(run_id)
    # a round cut short holds the metrics of the clients that answered before: not its own
    coverage = round_coverage(
        store.client_records(run.run_id),
        [r.round for r in store.rounds(run.run_id, metrics=False)],
    )
    spread = client_metric_spread(coverage.completed)
    if not spread:
        cut = sorted({c.round for c in coverage.cut_short if c.reported})
        why = (
            f"its only client metrics are of round(s) cut short: {', '.join(map(str, cut))}"
            if cut
            else "clients reported none"
        )
        raise DataError(f"run {run.run_id!r} has no per-client metrics to plot ({why})")
    drawn, left_out = drawn_panels(list(spread))
    columns = min(len(drawn), 2)
    rows = math.ceil(len(drawn) / columns)
    figure = _new_figure(_SUBPLOT_WIDTH_IN * columns, _SUBPLOT_HEIGHT_IN * rows + 0.4)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, drawn, strict=False):
        per_round = spread[name]
        rounds = [s.round for s in per_round]
        ax.fill_between(
            rounds,
            [s.minimum for s in per_round],
            [s.maximum for s in per_round],
            alpha=0.15,
            color="tab:blue",
            label="min-max over clients",
        )
        ax.plot(rounds, [s.mean for s in per_round], marker="o", markersize=3, label="mean")
        ax.plot(rounds, [s.worst_decile for s in per_round], color="tab:red", label="worst 10 %")
        ax.plot(rounds, [s.best_decile for s in per_round], color="tab:green", label="best 10 %")
        ax.set_title(f"{name} ({per_round[-1].clients} clients in round {rounds[-1]})")
        _round_axis(ax)
        ax.legend(fontsize="small")
    for ax in axes[len(drawn) :]:
        ax.set_visible(False)
    title = run.run_id if run.name is None else f"{run.name} ({run.run_id})"
    figure.suptitle(f"{title} - per-client metrics{_left_out(left_out, 'rengo runs show')}")
    return _save(figure, path)
