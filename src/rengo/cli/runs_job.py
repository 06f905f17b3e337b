"""``rengo runs job RUN``: write a recorded run's job file back out, to repeat it with
``rengo run FILE --same-as RUN``.

Registered on ``runs_app`` by :mod:`rengo.cli.runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rengo.cli.errors import friendly_errors
from rengo.cli.output_paths import write_text_output
from rengo.cli.store_option import RunIdArgument, StoreOption, open_existing_store

console = Console()


def job(
    run_id: RunIdArgument,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Job file to write (a folder gets RUN.toml inside; default: print)."
        ),
    ] = None,
    store: StoreOption = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a file already there (else refuse, writing nothing).")
    ] = False,
) -> None:
    """Write the job file of a recorded run, from the settings it recorded.

    `rengo run FILE --same-as RUN` accepts it from any folder (its data paths are
    absolute). What a run does not record (job.workers, job.round_timeout, [deploy],
    [checkpoints], [executor.NAME]) is left at its defaults. A vertical run `rengo run`
    simulated is written back too; a deployed vertical run records no party's table: its
    job file cannot be written.

    Example: rengo runs job 20261206-0915 -o again.toml
    """
    from rengo.jobs.recorded_job import recorded_job_text

    with friendly_errors(), open_existing_store(store, read_only=True) as s:
        run = s.get_run(run_id)
        target = write_text_output(recorded_job_text(run), out, f"{run.run_id}.toml", overwrite)
        if target is None:
            return
        console.print(
            f"wrote {target}: repeat the run with `rengo run {target} --same-as {run.run_id}`",
            highlight=False,
        )
