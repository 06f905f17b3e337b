"""``rengo runs compare``: recorded runs grouped by the settings they differ in, one metric's
final and best value per group as mean ± sd over its runs (seeds), as a table, CSV files and
a plot with bands.

Registered on ``runs_app`` by :mod:`rengo.cli.runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rengo.cli.csv_export_options import ExcelOption, ExportDecimalOption, ExportDelimiterOption
from rengo.cli.errors import friendly_errors
from rengo.cli.output_paths import refuse_to_replace, writable_folder
from rengo.cli.run_filter_options import (
    NameOption,
    SinceOption,
    TzOption,
    UntilOption,
    chosen_runs,
)
from rengo.cli.store_option import StoreOption, open_existing_store
from rengo.core.errors import ConfigError
from rengo.tracking.compared_metric import COMPARED_BY_DEFAULT, compared_metric

console = Console()

ComparedMetricOption = Annotated[
    str | None,
    typer.Option(
        help="The per-round metric the runs are compared by (default: the first of "
        + ", ".join(COMPARED_BY_DEFAULT)
        + " every run logged)."
    ),
]
"""``--metric`` of the commands that compare runs (``rengo runs compare``, ``runs plot``)."""


def compare(
    run_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Run ids (or unique prefixes); or pick runs with the filters."),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            help="Every run of this study (rengo sweep --study; rengo runs list --study lists "
            "its cells)."
        ),
    ] = None,
    name: NameOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    tz: TzOption = None,
    metric: ComparedMetricOption = None,
    goal: Annotated[
        str | None,
        typer.Option(help="max or min: a run's best round (default: min for losses and errors)."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write the table (one row per group).")
    ] = None,
    runs_csv: Annotated[
        Path | None,
        typer.Option(
            "--runs-csv",
            help="Also write one row per run: its final and best value and the command that "
            "repeats it.",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also write a PNG of the metric per round, mean ± sd bands per group."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace files that exist (else refuse, writing nothing).")
    ] = False,
    excel: ExcelOption = False,
    delimiter: ExportDelimiterOption = ",",
    decimal: ExportDecimalOption = ".",
    store: StoreOption = None,
) -> None:
    """Compare runs grouped by the settings they differ in (the seed apart): each group's
    final and best value of a metric as mean ± sd over its runs.

    Only completed runs that recorded their job's settings are compared; the others are
    named. Any runs can be compared: a study's cells (--study), those a name picks, or ids.

    Example: rengo runs compare --study digits-study --csv table.csv --plot curves.png
    """
    from rengo.tracking import RunFilter, plot_comparison, resolve_store_path
    from rengo.tracking.comparison_output import comparison_table, write_comparison_csv
    from rengo.tracking.run_comparison import compare_runs

    with friendly_errors():
        wanted = RunFilter.from_text(
            None,
            None,
            name,
            since,
            until,
            option_names=("--status", "--since", "--until"),
            zone=tz,
            study=study,
        )
        if not run_ids and wanted == RunFilter(zone=wanted.zone):
            raise ConfigError(
                "name the runs to compare, or pick them with --study, --name, --since or "
                "--until (see rengo runs list)"
            )
        outputs = [p for p in (csv, runs_csv, plot) if p is not None]
        if len(set(outputs)) < len(outputs):
            raise ConfigError("--csv, --runs-csv and --plot each need a file of their own")
        refuse_to_replace(outputs, overwrite)
        for path in outputs:
            writable_folder(path.parent)
        with open_existing_store(store, read_only=True) as s:
            picked = [run.run_id for run in chosen_runs(s, run_ids, wanted)]
            if not picked:
                raise ConfigError(f"no run matches {_what(study, name, since, until)}")
            comparison = compare_runs(
                s,
                picked,
                metric or compared_metric(s, picked),
                goal,
                store_path=resolve_store_path(store).resolve(),
            )
        console.print(comparison_table(comparison))
        for line in comparison.left_out:
            console.print(f"left out: {line}", soft_wrap=True)
        if csv is not None:
            rows = write_comparison_csv(
                comparison, csv, delimiter=delimiter, decimal=decimal, bom=excel
            )
            console.print(f"wrote {csv}: {rows} group(s)")
        if runs_csv is not None:
            rows = write_comparison_csv(
                comparison, runs_csv, per_run=True, delimiter=delimiter, decimal=decimal, bom=excel
            )
            console.print(f"wrote {runs_csv}: {rows} run(s), each with the command that repeats it")
        if plot is not None:
            console.print(f"wrote {plot_comparison(comparison, plot)}")


def _what(study: str | None, name: str | None, since: str | None, until: str | None) -> str:
    """The filters given, as the error for an empty pick names them."""
    given = [
        f"{option} {value!r}"
        for option, value in (
            ("--study", study),
            ("--name", name),
            ("--since", since),
            ("--until", until),
        )
        if value
    ]
    return ", ".join(given) or "the ids given"
