"""``rengo runs list | show | plot | delete | compact | backup``: look at (and tidy, and back
up) what the run store recorded (``mirror``, ``export``, ``metrics``, ``job`` and ``compare``
are in their own modules)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from rengo.cli.errors import friendly_errors
from rengo.cli.run_filter_options import NameOption, SinceOption, TzOption, UntilOption
from rengo.cli.runs_compare import ComparedMetricOption
from rengo.cli.store_option import RunIdArgument, StoreOption, open_existing_store
from rengo.tracking.compared_metric import compared_metric

if TYPE_CHECKING:
    from rich.table import Table

    from rengo.tracking import RunFilter, RunInfo, RunStore

runs_app = typer.Typer(
    help="List, inspect, plot, export, mirror, delete and compact recorded runs; write a "
    "run's job file back; change a running deployed run's parties.",
    no_args_is_help=True,
)
console = Console()


@runs_app.command("list")
def list_runs(
    store: StoreOption = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Most recent runs to show (default 20; every cell of a --study)."),
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only runs of this kind (hfl, vfl...).")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only runs with this status: running, completed, failed, interrupted."),
    ] = None,
    name: NameOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    tz: TzOption = None,
    study: Annotated[
        str | None,
        typer.Option(
            help="Every cell of this study (rengo sweep --study; the sweep prints it), oldest "
            "first, with the settings that tell them apart."
        ),
    ] = None,
) -> None:
    """The most recent runs, newest first (the filters as the dashboard's runs list); or a
    study's cells with their settings and status (--study).

    Example: rengo runs list --status interrupted --since 2026-11-01 --tz UTC

    Example: rengo runs list --study digits-study
    """
    from rengo.core.errors import ConfigError
    from rengo.tracking import RunFilter, runs_table

    with friendly_errors():
        if study is not None and not study.strip():
            raise ConfigError("--study needs a study's name (rengo sweep printed it)")
        wanted = RunFilter.from_text(
            kind,
            status,
            name,
            since,
            until,
            option_names=("--status", "--since", "--until"),
            zone=tz,
            study=study,
        )
        with open_existing_store(store, read_only=True) as s:
            if wanted == RunFilter(kind=wanted.kind):  # SQL picks the newest `limit` runs
                runs = s.list_runs(limit=limit or 20, kind=wanted.kind)
            else:  # status is matched as read, so every run is read
                runs = [run for run in s.list_runs(limit=None) if wanted.matches(run)]
                runs = runs[: limit or (None if study else 20)]
            console.print(runs_table(runs) if study is None else _study_cells(study, runs))
            if not runs:  # a typo of a kind, status or study reads as an empty store
                everything = s.list_runs(limit=None)
                if everything:
                    console.print(_why_none(everything, wanted))


def _study_cells(study: str, newest_first: list[RunInfo]) -> Table:
    """The table of ``study``'s cells, oldest first, a column per setting they differ in
    (the seed included)."""
    from rengo.tracking import study_table
    from rengo.tracking.run_comparison import (
        recorded_settings,
        setting_text,
        short_names,
        varied_settings,
    )

    runs = newest_first[::-1]
    recorded = {run.run_id: recorded_settings(run) for run in runs}
    settings = {run_id: flat for run_id, flat in recorded.items() if flat is not None}
    varied = varied_settings(settings)
    columns = {
        name: {run_id: setting_text(flat.get(key)) for run_id, flat in settings.items()}
        for name, key in zip(short_names(varied), varied, strict=True)
    }
    return study_table(study, runs, columns)


def _why_none(everything: list[RunInfo], wanted: RunFilter) -> str:
    """What the store holds, for a filter that matched nothing."""
    from rengo.tracking.study_tag import study_of

    kinds = sorted({r.kind for r in everything})
    if wanted.kind is not None and wanted.kind not in kinds:
        return f"no runs of kind {wanted.kind!r}; kinds in this store: {', '.join(kinds)}"
    studies = sorted({s for s in map(study_of, everything) if s is not None})
    if wanted.study is not None and wanted.study not in studies:
        held = ", ".join(studies) if studies else "none (rengo sweep makes them)"
        return f"no run of study {wanted.study!r}; studies in this store: {held}"
    return f"no run matches these filters; the store holds {len(everything)} runs"


@runs_app.command("show")
def show(
    run_id: RunIdArgument = "latest",
    store: StoreOption = None,
    max_clients: Annotated[
        int,
        typer.Option(
            min=0, help="Clients listed at most, the most failures first (0: every client)."
        ),
    ] = 20,
    round_: Annotated[
        int | None,
        typer.Option(
            "--round",
            min=1,
            help="Instead, one round's clients: who was sampled to train and to evaluate, "
            "who replied, and why each other one failed.",
        ),
    ] = None,
) -> None:
    """Config, summary, per-round metrics, per-client statistics and events of one run; or,
    with --round K, which clients round K sampled and which of them failed, and why."""
    from rengo.tracking import round_clients_table, run_detail

    with friendly_errors(), open_existing_store(store, read_only=True) as s, s.snapshot():
        if round_ is not None:
            console.print(round_clients_table(s, run_id, round_))
            return
        console.print(run_detail(s, run_id, max_clients=max_clients or None))


@runs_app.command("plot")
def plot(
    run_ids: Annotated[list[str], typer.Argument(help="One run id, or several to compare.")],
    store: StoreOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="PNG path (a folder gets the default name inside)."),
    ] = None,
    metric: ComparedMetricOption = None,
    clients: Annotated[
        bool,
        typer.Option(
            "--clients",
            help="Per-client metrics of one run: mean, worst and best 10 % and range per round.",
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a file already there (else refuse, writing nothing).")
    ] = False,
) -> None:
    """Write a PNG of loss/accuracy per round (one run), of one metric across runs, or of
    how a run's client metrics spread over its clients (--clients). An existing file is
    kept unless --overwrite, as every rengo runs command that writes files does."""
    from rengo.cli.output_paths import plot_target, refuse_to_replace
    from rengo.core.errors import ConfigError
    from rengo.tracking import plot_client_metrics, plot_run, plot_runs

    def target(name: str) -> Path:
        path = plot_target(out, name)
        refuse_to_replace([path], overwrite)
        return path

    with friendly_errors(), open_existing_store(store, read_only=True) as s:
        if clients:
            if len(run_ids) != 1:
                raise ConfigError("--clients plots one run; give exactly one run id")
            rid = s.resolve_run_id(run_ids[0])
            path = plot_client_metrics(s, rid, target(f"{rid}-clients.png"))
        elif len(run_ids) == 1:
            rid = s.resolve_run_id(run_ids[0])
            path = plot_run(s, rid, target(f"{rid}.png"))
        else:
            chosen = metric or compared_metric(s, run_ids)
            path = plot_runs(s, run_ids, chosen, target(f"compare-{chosen}.png"))
        console.print(f"wrote {path}")


NAMED_INLINE = 5
"""Runs ``rengo runs delete`` names on its prompt's line; more are shown as a table."""


@runs_app.command("delete")
def delete(
    run_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Run ids (or unique prefixes) to delete; or select by the filters."),
    ] = None,
    store: StoreOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking for confirmation.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="Also delete runs still running (a killed process's run reads interrupted "
            "and needs no --force)."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only say what would be deleted and kept; delete nothing."),
    ] = False,
    status: Annotated[
        str | None, typer.Option(help="Every run with this status (failed, interrupted...).")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Every run of this kind.")] = None,
    name: Annotated[
        str | None, typer.Option(help="Every run whose name or id contains this text.")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Every run started on or before this day (YYYY-MM-DD, in --tz: this machine's "
            "time zone unless given)."
        ),
    ] = None,
    tz: TzOption = None,
) -> None:
    """Delete runs and everything recorded for them (rounds, clients, checkpoints...).

    Name the runs, or select them with filters (all of them must match; the same filters as
    rengo runs list). Runs with ledger lines are kept: the ledger is append-only; with
    filters they are left out and counted, named ones are refused. So are runs still
    running, checked again as each is deleted. Once no run is running the store is then
    compacted, giving the deleted runs' space back to the disk (else: rengo runs compact).

    Example: rengo runs delete --status interrupted --until 2026-11-30 --dry-run
    """
    from rengo.core.errors import ConfigError
    from rengo.tracking import RunFilter

    with friendly_errors():
        wanted = RunFilter.from_text(
            kind,
            status,
            name,
            None,
            until,
            option_names=("--status", "--since", "--until"),
            zone=tz,
        )
        if not run_ids and dataclasses.replace(wanted, zone=None) == RunFilter():  # --tz alone
            raise ConfigError(
                "name the runs to delete, or select them with --status, --kind, --name or "
                "--until (see rengo runs list)"
            )
        with open_existing_store(store) as s:
            if run_ids:
                runs = [s.get_run(run_id) for run_id in dict.fromkeys(run_ids)]
                runs = [run for run in runs if wanted.matches(run)]
                for run in runs:
                    refusal = s.deletion_problem(run.run_id, force=force)
                    if refusal is not None:
                        raise ConfigError(f"run {run.run_id} {refusal}")
                kept: list[str] = []
            else:
                chosen = [run for run in s.list_runs(limit=None) if wanted.matches(run)]
                refusals = {
                    run.run_id: s.deletion_problem(run.run_id, force=force) for run in chosen
                }
                runs = [run for run in chosen if refusals[run.run_id] is None]
                kept = [run_id for run_id, refusal in refusals.items() if refusal is not None]
            if kept:
                console.print(
                    f"keeping {len(kept)} matching run(s) still running (--force deletes them) "
                    f"or paid (the ledger is append-only): {', '.join(kept)}"
                )
            if not runs:
                console.print("no run to delete")
                return
            described = _described(runs)
            if len(runs) > NAMED_INLINE:  # hundreds of runs read as a table, not one line
                from rengo.tracking import runs_table

                console.print(runs_table(runs))
                described = "the runs listed above"
            if dry_run:
                console.print(
                    f"would delete {len(runs)} run(s) (--dry-run: none deleted): {described}"
                )
                return
            if not yes and not typer.confirm(
                f"delete {len(runs)} run(s): {described}?", default=False
            ):
                console.print("nothing deleted")
                raise typer.Exit(1)
            deleted: list[RunInfo] = []
            changed: list[str] = []
            for run in runs:  # checked again as each is deleted: one resumed since is kept
                try:
                    s.delete_run(run.run_id, force=force)
                except ConfigError as exc:
                    changed.append(str(exc))
                else:
                    deleted.append(run)
            if deleted:
                shown = (
                    _described(deleted) if len(deleted) <= NAMED_INLINE else "the runs listed above"
                )
                console.print(f"deleted {len(deleted)} run(s): {shown}")
                _compact_unless_running(s)
            if changed:
                raise ConfigError(f"kept what changed since it was listed: {'; '.join(changed)}")


@runs_app.command("close")
def close(
    run_ids: Annotated[list[str], typer.Argument(help="Interrupted runs (ids or prefixes).")],
    reason: Annotated[
        str, typer.Option(help="Why they will not be resumed (kept among their events).")
    ],
    store: StoreOption = None,
) -> None:
    """Close interrupted runs that will not be resumed: they are recorded failed, with the
    reason, and leave the interrupted runs (those waiting for --resume).

    Example: rengo runs close 20261106-0915 --reason "party expelled; superseded by a new run"
    """
    with friendly_errors(), open_existing_store(store) as s:
        for run_id in dict.fromkeys(run_ids):
            closed = s.close_run(run_id, reason)
            console.print(f"closed {closed.run_id} ({closed.label}): failed, {reason}")


@runs_app.command("compact")
def compact(store: StoreOption = None) -> None:
    """Give the space of deleted runs back to the disk (refused while a run is running).

    The store is rewritten (SQLite VACUUM): the disk needs room for a second copy of it
    meanwhile. rengo runs delete does this itself when no run is running.
    """
    from rengo.core.errors import ConfigError

    with friendly_errors(), open_existing_store(store) as s:
        running = sorted(s.running_run_ids())
        if running:
            raise ConfigError(
                f"runs {', '.join(running)} are running: compacting would hold them up; "
                "compact once they end"
            )
        console.print(_compacted(*s.compact()))


@runs_app.command("backup")
def backup(
    destination: Annotated[
        Path, typer.Argument(help="The new backup file (its folder must exist; never replaced).")
    ],
    store: StoreOption = None,
) -> None:
    """Copy the run store into one new file, safely while runs are writing to it.

    SQLite's online backup copies one consistent moment of the store (its file and its
    write-ahead log together), which cp, tar or rsync of a store being written do not. To
    restore: stop every process using the store, remove runs.db-wal and runs.db-shm, and
    copy the backup to runs.db.
    """
    from datetime import datetime, timezone

    from rengo.tracking import RunStore

    with friendly_errors():
        with open_existing_store(store, read_only=True) as s:
            source = s.path
            s.backup(destination)
        taken = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with RunStore(destination, read_only=True) as copy:
            runs = copy.list_runs(limit=None)
        running = [r.run_id for r in runs if r.status == "running"]
        size = destination.stat().st_size / 2**20
        console.print(
            f"backed up {source} to {destination} ({size:.1f} MiB, {len(runs)} runs) at {taken}",
            highlight=False,
        )
        if running:
            console.print(
                f"runs {', '.join(running)} were running: the backup holds them up to that "
                "moment, and restored they read interrupted (resume them with --resume)",
                highlight=False,
            )
        console.print(
            f"to restore: stop every process using {source}, remove {source.name}-wal and "
            f"{source.name}-shm beside it, then copy {destination} to {source}; keep "
            f"{source.name}.payments, if there is one (it stops a restored store paying again "
            "what was paid after the backup)",
            highlight=False,
        )


def _compact_unless_running(store: RunStore) -> None:
    """Compact ``store`` after a deletion, unless a run is running (or the disk is full)."""
    from rengo.tracking import StoreUnwritableError

    running = sorted(store.running_run_ids())
    if running:
        console.print(
            f"the deleted runs' space stays in the store (reused by later runs) while "
            f"{', '.join(running)} runs: `rengo runs compact` gives it back to the disk later"
        )
        return
    try:
        console.print(_compacted(*store.compact()))
    except StoreUnwritableError as exc:
        console.print(f"not compacted: {exc}; its free space is reused by later runs")


def _compacted(before: int, after: int) -> str:
    """What compaction gave back, in MB."""
    return (
        f"compacted the store: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB "
        f"({max(0, before - after) / 1e6:.1f} MB given back to the disk)"
    )


def _described(runs: list[RunInfo]) -> str:
    """Runs as the confirmation names them: id, label, kind and status."""
    return ", ".join(f"{r.run_id} ({r.label}, {r.kind}, {r.status})" for r in runs)


# ``rengo runs mirror``, ``export``, ``metrics``, ``job``, ``card`` and ``compare`` live in their
# own modules.
from rengo.cli.runs_card import card as _card  # noqa: E402
from rengo.cli.runs_compare import compare as _compare  # noqa: E402
from rengo.cli.runs_export import export as _export  # noqa: E402
from rengo.cli.runs_export import mirror as _mirror  # noqa: E402
from rengo.cli.runs_importance import importance as _importance  # noqa: E402
from rengo.cli.runs_job import job as _job  # noqa: E402
from rengo.cli.runs_metrics import metrics as _metrics  # noqa: E402
from rengo.cli.runs_parties import parties as _parties  # noqa: E402

runs_app.command("mirror")(_mirror)
runs_app.command("export")(_export)
runs_app.command("metrics")(_metrics)
runs_app.command("job")(_job)
runs_app.command("card")(_card)
runs_app.command("importance")(_importance)
runs_app.command("compare")(_compare)
runs_app.command("parties")(_parties)
