"""``rengo runs metrics RUN [RUN ...] --out FILE``: runs' rounds as CSV or the whole runs
as JSON, for a spreadsheet or a script.

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
from rengo.cli.store_option import StoreOption, open_existing_store
from rengo.core.errors import ConfigError

console = Console()

FORMATS = ("csv", "json")


def metrics(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write (.csv or .json).")],
    format: Annotated[
        str | None,
        typer.Option("--format", help="csv or json (default: from --out's suffix)."),
    ] = None,
    store: StoreOption = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the file if it exists (else refuse, writing nothing).")
    ] = False,
    excel: ExcelOption = False,
    delimiter: ExportDelimiterOption = ",",
    decimal: ExportDecimalOption = ".",
) -> None:
    """Write runs' per-round metrics as CSV, or the whole runs as JSON.

    CSV: one row per run and round (run_id, run_name, round, duration_s, num_clients,
    num_failures, then every metric); JSON: each run's header, config, summary, rounds and
    events. Non-finite values are empty cells / null. For Excel: --excel (and --delimiter ';'
    --decimal , where Excel writes 0,5).

    Example: rengo runs metrics RUN_A RUN_B --out rounds.csv
    """
    from rengo.tracking.rounds_export import write_rounds_csv, write_runs_json

    with friendly_errors():
        chosen = format or out.suffix.lstrip(".").lower()
        if chosen not in FORMATS:
            given = f"--format {format!r}" if format else f"--out {str(out)!r}"
            raise ConfigError(f"{given}: choose --format csv or json (or a .csv / .json --out)")
        if chosen == "json" and (excel or delimiter != "," or decimal != "."):
            raise ConfigError("--excel, --delimiter and --decimal shape a CSV; JSON takes none")
        refuse_to_replace([out], overwrite)
        writable_folder(out.parent)
        with open_existing_store(store, read_only=True) as s:  # each export reads one moment
            if chosen == "csv":
                rows = write_rounds_csv(
                    s, run_ids, out, delimiter=delimiter, decimal=decimal, bom=excel
                )
            else:
                rows = write_runs_json(s, run_ids, out)
        console.print(f"wrote {out}: {_count(rows, 'round')} of {_count(len(run_ids), 'run')}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
