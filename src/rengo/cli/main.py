"""The ``rengo`` command line: ``rengo demo``, ``rengo run JOB.toml``, ``rengo runs ...``,
``rengo strategies``, ``rengo ui``.

Every command prints a clear one-line error and exits non-zero on bad input (exit code 2
for usage and configuration errors, 1 for runtime failures), never a traceback.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rengo import __version__
from rengo.cli.deferred_groups import deferred_app
from rengo.cli.deploy import certs_app
from rengo.cli.deploy import coordinator as coordinator_command
from rengo.cli.deploy import party as party_command
from rengo.cli.errors import ROUNDS_KEPT, friendly_errors, show_warnings_as_lines
from rengo.cli.log_formats import clear_log_context
from rengo.cli.logging_options import LoggingGroup, configure_logging, quiet_grpc_core
from rengo.cli.rewards import rewards_app
from rengo.cli.runs import runs_app
from rengo.cli.store_option import StoreOption
from rengo.cli.tournament import tournament_app
from rengo.cli.ui import ui as ui_command

app = typer.Typer(
    name="rengo",
    cls=LoggingGroup,
    help="rengo (連合): federated learning that keeps data where it lives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(runs_app, name="runs")
app.add_typer(certs_app, name="certs")
app.add_typer(rewards_app, name="rewards")
app.add_typer(tournament_app, name="tournament")
# imported when used: its commands' options come from every registered vertical algorithm
app.add_typer(
    deferred_app("rengo.cli.vfl:vfl_app", help="Vertical federated learning."), name="vfl"
)
app.command("coordinator")(coordinator_command)
app.command("party")(party_command)
app.command("ui")(ui_command)
console = Console()


def _version(value: bool) -> None:
    """Print the release, and what decides whether two installs work together: the wire
    format a coordinator and its parties must share, the run store schema this install
    writes (an older install refuses a store of a newer one), and the source commit of a
    checkout (every build of a release has the same version)."""
    if value:
        from rengo.tracking.schema import SCHEMA_VERSION
        from rengo.tracking.source_commit import source_commit
        from rengo.transport.grpc_wire import WIRE_FORMAT

        console.print(f"rengo {__version__}", highlight=False)
        console.print(
            f"wire format {WIRE_FORMAT} (a coordinator and its parties must speak the same)",
            highlight=False,
        )
        console.print(f"run store schema {SCHEMA_VERSION}", highlight=False)
        commit = source_commit()
        if commit is not None:
            console.print(f"source commit {commit}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Federated learning: horizontal, vertical and transfer, with contribution accounting.

    Every command takes -v (-vv for debug), --log-level and --log-format (json: one record a
    line on stderr, for a log pipeline).
    """
    _replace_what_output_cannot_encode()
    quiet_grpc_core()  # before any command imports grpc
    clear_log_context()  # a command run in-process after another (a notebook, a test)
    configure_logging()
    show_warnings_as_lines()
    _note_deprecated_environment()


def _replace_what_output_cannot_encode() -> None:
    """Let stdout and stderr write ``?`` for a character their encoding lacks: Windows writes
    a redirected command's output (a file, a pipe, a scheduled task's log) in its code page
    (cp1252), and a run named ``Zentrum Łódź`` stopped ``rengo run`` with a
    UnicodeEncodeError traceback at its first line of output."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="replace")


def _note_deprecated_environment() -> None:
    """Say on stderr when the store comes from the deprecated ``$RENGO_RUNS``: its
    DeprecationWarning is hidden from command-line users by Python's default filters."""
    import os

    from rengo.core.deprecation import REMOVED_IN
    from rengo.tracking.location import ENV_VAR, LEGACY_ENV_VAR

    if os.environ.get(LEGACY_ENV_VAR, "").strip() and not os.environ.get(ENV_VAR, "").strip():
        Console(stderr=True).print(
            f"[yellow]note:[/] ${LEGACY_ENV_VAR} is deprecated and will be ignored from rengo "
            f"{REMOVED_IN}; set ${ENV_VAR} instead",
            highlight=False,
        )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for plots.")] = Path("rengo-runs"),
    store: StoreOption = None,
    rounds: Annotated[int, typer.Option(min=1, help="Federated rounds per strategy.")] = 20,
    clients: Annotated[int, typer.Option(min=2, help="Number of simulated clients.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed for data split, partition and training.")] = 0,
) -> None:
    """Bundled-data showcase: HFL with DP, VFL, transfer learning, Shapley payouts, a tournament."""
    from rengo.showcase import run_demo

    with friendly_errors(ROUNDS_KEPT):
        run_demo(console, out=out, store_path=store, rounds=rounds, clients=clients, seed=seed)


@app.command()
def run(
    job: Annotated[Path, typer.Argument(help="Job file (TOML).", show_default=False)],
    store: StoreOption = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="Override job.executor (serial, process, ray: see rengo strategies); "
            "horizontal jobs only (a vertical job's parties run in this process)."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also write a PNG of the run here (a folder gets RUN.png inside)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    mirror: Annotated[
        list[str] | None,
        typer.Option(
            help="Also mirror the run live: mlflow and/or tensorboard (repeatable), each "
            "optionally =WHERE: --mirror mlflow=http://mlflow:5000 --mirror tensorboard=tb/ "
            "(default: $MLFLOW_TRACKING_URI, else beside the store)."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a job setting, SECTION.KEY=VALUE (repeatable), checked like the "
            "file: --set train.lr=0.01 --set job.rounds=5.",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue this interrupted horizontal run after its last checkpoint (the "
            "same job and --set; --executor may change)."
        ),
    ] = None,
    same_as: Annotated[
        str | None,
        typer.Option(
            "--same-as",
            help="Repeat this recorded run: refuse a job (and --set) whose settings are not "
            "its own, and say whether the final metrics are its own.",
        ),
    ] = None,
) -> None:
    """Run a job file in simulation and record it in the run store."""
    from rengo.cli.run_job import resume_command, run_job

    def kept() -> str:
        return resume_command(job, store, set_ or (), resume)

    with friendly_errors(kept):
        run_job(
            console,
            job,
            store_path=store,
            executor=executor,
            plot=plot,
            progress=progress,
            mirrors=mirror or (),
            overrides=set_ or (),
            resume=resume,
            same_as=same_as,
        )


@app.command()
def sweep(
    job: Annotated[Path, typer.Argument(help="Job file (TOML).", show_default=False)],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="A setting and its values, SECTION.KEY=A,B,... or KEY=0..4 (whole numbers, "
            "both ends included) or SECTION={k = v, ...},{...} (keys set together); "
            "repeatable: the grid is every combination, the last --set varying fastest.",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(help="The study's name, for rengo runs compare --study (default: job.name)."),
    ] = None,
    store: StoreOption = None,
    executor: Annotated[
        str | None, typer.Option(help="Override job.executor for every cell.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show each run's progress bar.")] = True,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check every cell and list them with what is recorded."),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run this many cells at once, each in its own process (a line per cell "
            "instead of progress bars; each cell's run is the same as run alone).",
        ),
    ] = 1,
) -> None:
    """Run a job once per combination of settings (a study), each cell a run.

    Every cell is checked before any runs. Run the same command again after Ctrl-C or a
    failure: completed cells are not run again, an interrupted one is resumed (a vertical
    one, which rengo run cannot resume part-way, is run anew).

    Example: rengo sweep job.toml --set strategy.name=fedavg,fedprox --set job.seed=0..4

    Example (vertical): rengo sweep vfl.toml --set vfl.max_depth=2,3 --set vfl.key_bits=1024,2048
    """
    from rengo.cli.sweep import run_sweep, sweep_command

    def kept() -> str:
        again = sweep_command(job, set_ or (), study, store, executor, workers)
        return f"completed cells are kept; continue the study with `{again}`"

    with friendly_errors(kept):
        run_sweep(
            console,
            job,
            set_ or (),
            study=study,
            store_path=store,
            executor=executor,
            progress=progress,
            dry_run=dry_run,
            workers=workers,
        )


@app.command()
def strategies(
    app_: Annotated[
        list[str] | None,
        typer.Option(
            "--app",
            help="Also list your own strategy class, module:Class (a job's [strategy] app), "
            "found in the working folder; repeatable.",
        ),
    ] = None,
) -> None:
    """List the strategies job files accept, with their options and defaults."""
    from rengo.cli.strategies import print_strategies
    from rengo.hfl import strategy_from_app

    with friendly_errors():
        for spec in app_ or ():
            strategy_from_app(spec)  # registers it: listed with the built-ins
        print_strategies(console)


if __name__ == "__main__":  # pragma: no cover
    app()
