"""Recorded runs compared as a study: grouped by the settings in which they differ,
each group's final and best value of one metric as mean, standard deviation and count over
its runs (its seeds), and the command that repeats each run.

Any set of runs that recorded their job's settings can be compared (``rengo run``, ``rengo
sweep``, ``rengo coordinator``): the settings are each run's ``job_settings`` entry,
flattened to ``section.key``; those with more than one value among the runs, the seed
(``job.seed``) apart, name the groups. The figures are plain numpy over the recorded
rounds: the standard deviation is the sample one (``ddof=1``; NaN for one run), and a
diverged run's NaN is kept, so it shows in its group's mean instead of being averaged away.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.metrics import better_direction, lower_is_better
from rengo.tracking.compared_metric import check_one_loss
from rengo.tracking.records import RunInfo
from rengo.tracking.run import COMPLETED
from rengo.tracking.store import RunStore
from rengo.tracking.tables import dotted_settings

SETTINGS = "job_settings"
"""The run config entry holding the job's settings (see ``rengo.jobs.build.job_settings``)."""
SEED = "job.seed"
"""The setting the runs of one group differ in: their repeats."""
GOALS = ("max", "min")


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison.

    Attributes
    ----------
    run_id, name, seed
        Who the run is.
    curve
        ``(round, value)`` of the metric, round by round.
    final_round, final
        Its last round and the metric there.
    best_round, best
        The round with the best value (the first, on ties) and that value.
    command
        The shell command that repeats the run and checks it did (``--same-as``).
    """

    run_id: str
    name: str | None
    seed: int | None
    curve: tuple[tuple[int, float], ...]
    final_round: int
    final: float
    best_round: int
    best: float
    command: str


@dataclass(frozen=True)
class SettingGroup:
    """The runs of one combination of the varied settings.

    Attributes
    ----------
    settings
        Each varied setting's value in this group (``{"strategy.name": "fedprox"}``).
    runs
        Its runs, oldest first.
    """

    settings: dict[str, Any]
    runs: tuple[ComparedRun, ...]

    def final_stats(self) -> tuple[float, float, int]:
        """Mean, sample standard deviation and count of the runs' final values."""
        return mean_sd_n([r.final for r in self.runs])

    def best_stats(self) -> tuple[float, float, int]:
        """Mean, sample standard deviation and count of the runs' best values."""
        return mean_sd_n([r.best for r in self.runs])

    def band(self) -> tuple[list[int], list[float], list[float]]:
        """The curve over the runs: each round some run reached, the mean over the runs
        that reached it and their standard deviation (NaN where one run did)."""
        rounds = sorted({r for run in self.runs for r, _ in run.curve})
        by_round: dict[int, list[float]] = {r: [] for r in rounds}
        for run in self.runs:
            for r, value in run.curve:
                by_round[r].append(value)
        stats = [mean_sd_n(by_round[r]) for r in rounds]
        return rounds, [s[0] for s in stats], [s[1] for s in stats]


@dataclass(frozen=True)
class Comparison:
    """Runs grouped by the settings they differ in, for one metric.

    Attributes
    ----------
    metric, goal
        The metric compared and whether its best is its ``max`` or ``min``.
    varied
        The settings whose values tell the groups apart, in key order.
    groups
        One per combination of them, in the order their first run started.
    left_out
        One line per run not compared, saying why (not completed, no job settings).
    """

    metric: str
    goal: str
    varied: tuple[str, ...]
    groups: tuple[SettingGroup, ...]
    left_out: tuple[str, ...] = ()

    def labels(self) -> list[str]:
        """Each group's varied settings by their :func:`short_names`, for a legend
        (``alpha=0.1 scheme=dirichlet name=fedavg``; a setting a group lacks left out)."""
        names = short_names(self.varied)
        return [
            " ".join(
                f"{n}={setting_text(g.settings[k])}"
                for n, k in zip(names, self.varied, strict=True)
                if g.settings[k] is not None
            )
            or "all runs"
            for g in self.groups
        ]


def short_names(settings: tuple[str, ...]) -> list[str]:
    """Each setting by the fewest of its last dotted parts that no other setting ends with:
    ``("partition.options.alpha", "strategy.name")`` -> ``["alpha", "name"]``, so a table of
    several settings fits a terminal (the CSV names them in full)."""
    names = []
    for setting in settings:
        parts = setting.split(".")
        for size in range(1, len(parts) + 1):
            tail = ".".join(parts[-size:])
            if not any(o != setting and (o == tail or o.endswith("." + tail)) for o in settings):
                break
        names.append(tail)
    return names


def mean_sd_n(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (``ddof=1``; NaN for fewer than two values) and count
    of ``values``; a NaN among them makes the mean and deviation NaN."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return float("nan"), float("nan"), 0
    sd = float(np.std(array, ddof=1)) if array.size > 1 else float("nan")
    return float(np.mean(array)), sd, int(array.size)


def goal_of(metric: str) -> str:
    """``min`` for a metric whose smaller value is better (a loss, an error, epsilon...: as
    the dashboard decides, :func:`~rengo.tracking.client_spread.lower_is_better`), else
    ``max``."""
    return "min" if lower_is_better(metric) else "max"


def best_point(curve: Sequence[tuple[int, float]], goal: str) -> tuple[int, float]:
    """The first ``(round, value)`` of ``curve`` with its best value (``goal`` ``max`` or
    ``min``), NaN values never best unless every value is NaN."""
    finite = [(r, v) for r, v in curve if v == v]
    if not finite:
        return curve[-1]
    pick = max if goal == "max" else min
    best = pick(v for _, v in finite)
    return next((r, v) for r, v in finite if v == best)


def repeat_command(run: RunInfo, store_path: Path | None) -> str:
    """The shell command that runs ``run``'s job again and checks, with ``--same-as``, that
    it has the run's settings and data (it then says whether the final metrics match).

    Parameters
    ----------
    run
        A recorded run.
    store_path
        The store's file, given as ``--store`` (None: left out).

    Returns
    -------
    str
        ``rengo run JOB --set ... --same-as RUN`` from the job file and ``--set`` overrides
        a simulated run recorded; else ``rengo runs job RUN -o RUN.toml && rengo run
        RUN.toml --same-as RUN``, the job file written back from the run's settings.
    """
    config = run.config if isinstance(run.config, Mapping) else {}
    store = ["--store", str(store_path)] if store_path is not None else []
    job_file, overrides = config.get("job_file"), config.get("overrides", [])
    if isinstance(job_file, str) and run.kind in ("hfl", "vfl") and isinstance(overrides, list):
        sets = [word for o in overrides for word in ("--set", str(o))]
        return shlex.join(["rengo", "run", job_file, *store, *sets, "--same-as", run.run_id])
    written = f"{run.run_id}.toml"
    return (
        shlex.join(["rengo", "runs", "job", run.run_id, *store, "-o", written])
        + " && "
        + shlex.join(["rengo", "run", written, *store, "--same-as", run.run_id])
    )


def compare_runs(
    store: RunStore,
    run_ids: Sequence[str],
    metric: str,
    goal: str | None = None,
    store_path: Path | None = None,
) -> Comparison:
    """Group the runs by the settings they differ in and sum up ``metric`` per group.

    Parameters
    ----------
    store
        The run store.
    run_ids
        Run ids or unique prefixes; runs not completed or without recorded job settings are
        left out, each named in :attr:`Comparison.left_out`.
    metric
        The per-round metric compared (``central_accuracy``...).
    goal
        ``max`` or ``min``: which value is a run's best; None: :func:`goal_of` the metric.
    store_path
        The store's file as the repeat commands name it (None: no ``--store``).

    Returns
    -------
    Comparison
        The groups, in the order their first run started.

    Raises
    ------
    DataError
        If ``goal`` is neither ``max`` nor ``min`` (or is None for an operating point, a
        ``*_threshold``: :func:`~rengo.metrics.better_direction`), no run is left to
        compare, a run did not log ``metric`` (naming the metrics every run logged), or
        ``metric`` is a loss of count-model runs and of others
        (:func:`~rengo.tracking.compared_metric.check_one_loss`).
    UnknownRunError, AmbiguousRunError
        If an id names no run, or several.
    """
    if goal is None and better_direction(metric) is None:
        raise DataError(
            f"{metric} is an operating point (a decision threshold chosen for a target), not "
            "a score: no value of it is better; say which way to rank it (--goal max or min), "
            "or compare a score"
        )
    chosen = goal or goal_of(metric)
    if chosen not in GOALS:
        raise DataError(f"goal {goal!r}: choose max or min")
    with store.snapshot():  # one moment of the store, whatever a running run writes
        runs = sorted(
            {run.run_id: run for run in (store.get_run(i) for i in run_ids)}.values(),
            key=lambda run: (run.started_at, run.run_id),
        )
        left_out = [_why_left_out(run) for run in runs]
        kept = [run for run, why in zip(runs, left_out, strict=True) if why is None]
        if not kept:
            reasons = "; ".join(w for w in left_out if w) or "no runs given"
            raise DataError(f"no run to compare ({reasons})")
        series = {run.run_id: store.round_metrics(run.run_id) for run in kept}
    _check_metric(metric, kept, series)
    check_one_loss(metric, kept, series)
    settings = {run.run_id: flat_settings(run.config[SETTINGS]) for run in kept}
    varied = varied_settings(settings, apart=(SEED,))
    grouped: dict[str, tuple[dict[str, Any], list[ComparedRun]]] = {}
    for run in kept:
        values = {k: settings[run.run_id].get(k) for k in varied}
        curve = tuple(series[run.run_id][metric])
        best_round, best = best_point(curve, chosen)
        compared = ComparedRun(
            run.run_id,
            run.name,
            run.seed,
            curve,
            curve[-1][0],
            curve[-1][1],
            best_round,
            best,
            repeat_command(run, store_path),
        )
        grouped.setdefault(_key(values), (values, []))[1].append(compared)
    groups = tuple(SettingGroup(values, tuple(members)) for values, members in grouped.values())
    return Comparison(metric, chosen, varied, groups, tuple(w for w in left_out if w))


def flat_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A run's job settings as ``section.key`` values; an empty table (``partition.options``
    of an ``iid`` partition) is no setting, so it reads as absent beside another run's
    ``partition.options.alpha``."""
    return {key: value for key, value in dotted_settings(dict(settings)) if value != {}}


def varied_settings(
    settings: Mapping[str, Mapping[str, Any]], apart: Sequence[str] = ()
) -> tuple[str, ...]:
    """The settings whose values differ among runs, in key order: what tells a study's
    cells apart.

    Parameters
    ----------
    settings
        Each run's :func:`flat_settings`, by run id.
    apart
        Settings never counted as varied (a comparison groups the seeds: ``job.seed``).

    Returns
    -------
    tuple of str
        The ``section.key`` names with more than one value among the runs (a setting some
        runs lack counts as one more value).
    """
    keys = sorted({k for s in settings.values() for k in s} - set(apart))
    return tuple(k for k in keys if len({_key(s.get(k)) for s in settings.values()}) > 1)


def recorded_settings(run: RunInfo) -> dict[str, Any] | None:
    """``run``'s :func:`flat_settings`, or None for a run that recorded no job settings."""
    config = run.config if isinstance(run.config, Mapping) else {}
    settings = config.get(SETTINGS)
    return flat_settings(settings) if isinstance(settings, dict) else None


def _why_left_out(run: RunInfo) -> str | None:
    """Why ``run`` is not compared, or None."""
    if run.status != COMPLETED:
        return f"{run.run_id} is {run.status}"
    if not isinstance(run.config, Mapping) or not isinstance(run.config.get(SETTINGS), dict):
        return f"{run.run_id} recorded no job settings (a {run.kind} run)"
    return None


def _check_metric(
    metric: str, runs: Sequence[RunInfo], series: Mapping[str, Mapping[str, Any]]
) -> None:
    """A DataError naming the first run without ``metric`` and the metrics all runs have."""
    for run in runs:
        if not series[run.run_id].get(metric):
            common = set.intersection(*(set(series[r.run_id]) for r in runs))
            have = ", ".join(sorted(common)) or "none"
            raise DataError(
                f"run {run.run_id} has no metric {metric!r}; every run compared has: {have}"
            )


def _key(value: Any) -> str:
    """``value`` as text that is equal for equal settings (dicts in key order)."""
    return json.dumps(value, sort_keys=True, default=str)


def setting_text(value: Any) -> str:
    """A setting's value as labels, tables and CSV files show it: strings bare, the rest as
    JSON (``true``, ``0.1``, ``[64, 64]``)."""
    return value if isinstance(value, str) else json.dumps(value, default=str)
