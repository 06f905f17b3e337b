"""A :class:`~rengo.tracking.run_comparison.Comparison` as a terminal table and as CSV files:
one row per group (mean, sd and n of the final and best values over its runs) and one row
per run (its final and best values and the command that repeats it).

Empty cells in the CSVs are NaN (a standard deviation of one run, a diverged run), as
``rengo runs metrics`` writes them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from rengo.privacy.epsilon_text import epsilon_shown, four_digits, is_epsilon_metric
from rengo.tracking.json_text import finite
from rengo.tracking.run_comparison import Comparison, setting_text, short_names

GROUP_COLUMNS = (
    "n",
    "final_mean",
    "final_sd",
    "best_mean",
    "best_sd",
    "final_round",
    "run_ids",
)
"""The group CSV's columns after one column per varied setting."""
RUN_COLUMNS = ("seed", "run_id", "final_round", "final", "best_round", "best", "command")
"""The run CSV's columns after one column per varied setting."""


def _number(value: float) -> str:
    """4 decimals, or ``nan``."""
    return "nan" if value != value else f"{value:.4f}"


def _mean_sd(stats: tuple[float, float, int], metric: str) -> str:
    """``0.9233 ± 0.0101``; the mean alone for one run. An epsilon's mean is shown as every
    epsilon is (:func:`~rengo.privacy.epsilon_text.epsilon_shown`: 4 significant digits,
    rounded up, never below the bound), its spread to 4 significant digits."""
    mean, sd, n = stats
    if is_epsilon_metric(metric):
        shown = epsilon_shown(mean)
        return shown if n < 2 else f"{shown} ± {four_digits(sd)}"
    return _number(mean) if n < 2 else f"{_number(mean)} ± {_number(sd)}"


def _cell(value: Any) -> Any:
    """A setting's value as a CSV cell: strings and numbers as they are, the rest as the
    labels show it (:func:`~rengo.tracking.run_comparison.setting_text`: ``true``)."""
    if value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        return value
    return setting_text(value)


def _shown(value: Any) -> str:
    """A setting's value in the table: ``-`` for a setting the group's runs do not have."""
    return "-" if value is None else escape(setting_text(value))


def comparison_table(comparison: Comparison) -> Table:
    """One row per group: its varied settings, the number of runs, the final and the best
    value as ``mean ± sd`` and the final round(s).

    Parameters
    ----------
    comparison
        What :func:`~rengo.tracking.run_comparison.compare_runs` found.

    Returns
    -------
    rich.table.Table
        The table, titled with the metric and which value is best.
    """
    table = Table(
        title=f"{comparison.metric} (best = {comparison.goal})",
        title_justify="left",
        caption="mean ± sd over each group's runs",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for setting in short_names(comparison.varied) or ["runs"]:
        table.add_column(setting, no_wrap=True)
    for name in ("n", "final", "best", "rounds"):
        table.add_column(name, justify="right", no_wrap=True)
    for group in comparison.groups:
        settings = [_shown(group.settings[k]) for k in comparison.varied] or ["all"]
        rounds = sorted({run.final_round for run in group.runs})
        table.add_row(
            *settings,
            str(len(group.runs)),
            _mean_sd(group.final_stats(), comparison.metric),
            _mean_sd(group.best_stats(), comparison.metric),
            ",".join(map(str, rounds)),
        )
    return table


def group_rows(comparison: Comparison) -> tuple[list[str], list[list[Any]]]:
    """The group CSV: header (each varied setting, then :data:`GROUP_COLUMNS`) and rows."""
    rows = []
    for group in comparison.groups:
        final_mean, final_sd, n = group.final_stats()
        best_mean, best_sd, _ = group.best_stats()
        rounds = sorted({run.final_round for run in group.runs})
        rows.append(
            [
                *(_cell(group.settings[k]) for k in comparison.varied),
                n,
                finite(final_mean),
                finite(final_sd),
                finite(best_mean),
                finite(best_sd),
                rounds[0] if len(rounds) == 1 else " ".join(map(str, rounds)),
                " ".join(run.run_id for run in group.runs),
            ]
        )
    return [*comparison.varied, *GROUP_COLUMNS], rows


def run_rows(comparison: Comparison) -> tuple[list[str], list[list[Any]]]:
    """The run CSV: header (each varied setting, then :data:`RUN_COLUMNS`) and one row per
    run, group by group."""
    rows = [
        [
            *(_cell(group.settings[k]) for k in comparison.varied),
            run.seed,
            run.run_id,
            run.final_round,
            finite(run.final),
            run.best_round,
            finite(run.best),
            run.command,
        ]
        for group in comparison.groups
        for run in group.runs
    ]
    return [*comparison.varied, *RUN_COLUMNS], rows


def write_comparison_csv(
    comparison: Comparison,
    path: str | os.PathLike[str],
    *,
    per_run: bool = False,
    delimiter: str = ",",
    decimal: str = ".",
    bom: bool = False,
) -> int:
    """Write the comparison's groups (or with ``per_run`` its runs) as CSV, by
    :func:`rengo.data.csv_export.write_csv`.

    Parameters
    ----------
    comparison
        What :func:`~rengo.tracking.run_comparison.compare_runs` found.
    path
        The CSV file (replaced if it exists).
    per_run
        One row per run (:func:`run_rows`) instead of one per group (:func:`group_rows`).
    delimiter, decimal, bom
        How the file is written for a spreadsheet (see ``write_csv``).

    Returns
    -------
    int
        The number of rows written (the header not counted).

    Raises
    ------
    ConfigError
        For a ``delimiter`` or ``decimal`` ``write_csv`` refuses.
    """
    from rengo.data.csv_export import write_csv

    header, rows = run_rows(comparison) if per_run else group_rows(comparison)
    return write_csv(Path(path), header, rows, delimiter=delimiter, decimal=decimal, bom=bom)
