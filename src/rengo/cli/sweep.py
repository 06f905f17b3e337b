"""``rengo sweep JOB --set KEY=A,B --set job.seed=0..4``: run a job once per cell of a grid
of settings, as a study.

Every cell is checked (its job validated as ``rengo run`` would) before any runs. Each cell
is an ordinary run in the store, named ``STUDY KEY=VALUE ...`` and recorded with its study
(``rengo runs compare --study STUDY`` sums it up) and its ``--set`` overrides (so ``rengo run
JOB --set ...`` repeats it). Run the same command again after a stop (Ctrl-C, a crash, a
failed cell) and it continues: a cell whose run completed with the same settings is not run
again, an interrupted one is resumed from its last checkpoint, a failed one is run anew.

A vertical job (``job.kind = "vfl"``: hetero LR, SecureBoost...) sweeps the same way, over
its ``[vfl]`` settings (``--set vfl.max_depth=2,3 --set vfl.key_bits=1024,2048``): each cell
is simulated as ``rengo run`` simulates it and recorded with its job's settings. ``rengo run``
cannot resume a vertical simulation part-way, so an interrupted vertical cell is run anew.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from rengo.core.errors import ConfigError, RengoError
from rengo.jobs import JobSpec
from rengo.jobs.spec import job_from_document, read_job_document
from rengo.jobs.sweep_grid import SweepCell, sweep_cells
from rengo.tracking import RunInfo
from rengo.tracking.run import COMPLETED, INTERRUPTED
from rengo.tracking.store import RUNNING

RESUMED = (INTERRUPTED,)
"""Statuses of a cell's run that the sweep resumes instead of starting anew (not a running
one, as ``rengo run --resume`` may: a sweep leaves it to its process)."""


@dataclass(frozen=True)
class PlannedCell:
    """A cell of the grid with its validated job and what the store already holds of it.

    Attributes
    ----------
    cell
        The cell's overrides.
    spec
        Its job, validated.
    recorded
        The newest run of this study with the cell's settings, or None.
    """

    cell: SweepCell
    spec: JobSpec
    recorded: RunInfo | None


def sweep_command(
    job_path: Path,
    options: Sequence[str],
    study: str | None,
    store: Path | None,
    executor: str | None = None,
    workers: int = 1,
) -> str:
    """The command that continues this sweep: the same command (as one POSIX shell line)."""
    words = ["rengo", "sweep", str(job_path)]
    words += ["--store", str(store)] if store is not None else []
    words += ["--study", study] if study is not None else []
    words += ["--executor", executor] if executor is not None else []
    words += ["--workers", str(workers)] if workers != 1 else []
    for option in options:
        words += ["--set", option]
    return shlex.join(words)


def plan_sweep(
    job_path: Path,
    options: Sequence[str],
    study: str,
    store_path: Path | None,
    document: Mapping[str, Any] | None = None,
) -> list[PlannedCell]:
    """Every cell of the grid, validated, with the run of ``study`` that already holds it.

    Parameters
    ----------
    job_path
        The job file.
    document
        Its TOML as :func:`~rengo.jobs.spec.read_job_document` read it (None: read here):
        the file is read once, and each cell's job is that document with the cell's
        overrides, exactly as ``rengo run JOB --set ...`` would load it.
    options
        The sweep's ``--set`` options.
    study
        The study's name.
    store_path
        ``--store`` (None: the default store); a store not made yet holds no cell.

    Returns
    -------
    list of PlannedCell
        One per cell, in grid order.

    Raises
    ------
    ConfigError
        For a malformed option, a cell whose job is refused (naming the file, the cell's
        overrides and the fix), or two cells with the same settings.
    """
    from rengo.jobs.build import JOB_SETTINGS, job_settings
    from rengo.tracking import resolve_store_path
    from rengo.tracking.json_text import dumps_json
    from rengo.tracking.study_tag import study_of

    cells = sweep_cells(options)
    if document is None:
        document = read_job_document(job_path)
    # every cell checked before any runs, each from the one reading of the file
    specs = [job_from_document(job_path, document, cell.overrides) for cell in cells]
    texts = [dumps_json(job_settings(spec), "job settings") for spec in specs]
    seen: dict[str, SweepCell] = {}
    for cell, text in zip(cells, texts, strict=True):
        if text in seen:
            raise ConfigError(
                f"cells {seen[text].label!r} and {cell.label!r} have the same settings "
                "(the job file already says so?): each cell would run the same job"
            )
        seen[text] = cell
    recorded: dict[str, RunInfo] = {}
    path = resolve_store_path(store_path)
    if path.exists():
        from rengo.cli.store_option import open_existing_store

        with open_existing_store(store_path, read_only=True) as store:
            for run in store.list_runs(limit=None):  # newest first: the newest run wins
                settings = run.config.get(JOB_SETTINGS)
                if study_of(run) != study or not isinstance(settings, dict):
                    continue
                if "contribution" in settings and not store.contributions(run.run_id):
                    continue  # its valuation never finished (a vertical run's comes after it)
                recorded.setdefault(dumps_json(settings, "job settings"), run)
    digests: dict[tuple[str, ...], dict[str, str]] = {}
    planned = []
    for cell, spec, text in zip(cells, specs, texts, strict=True):
        held = recorded.get(text)
        if held is not None and not _same_data(held, spec, digests):
            held = None  # its data file changed since: the cell trains on other rows now
        planned.append(PlannedCell(cell, spec, held))
    return planned


def _same_data(run: RunInfo, spec: JobSpec, digests: dict[tuple[str, ...], dict[str, str]]) -> bool:
    """Whether the data files ``spec`` reads hold what ``run`` recorded it read (a run
    recorded without digests, or a bundled dataset, counts as the same); ``digests`` keeps
    each file set's digests, so a grid over one file reads it once."""
    from rengo.jobs.data_files import data_file_paths, job_data_files, recorded_data_files

    saved = recorded_data_files(run.config)
    if not saved:
        return True
    paths = data_file_paths(spec)
    if paths not in digests:
        digests[paths] = job_data_files(spec)
    return digests[paths] == saved


def run_sweep(
    console: Console,
    job_path: Path,
    options: Sequence[str],
    *,
    study: str | None = None,
    store_path: Path | None = None,
    executor: str | None = None,
    progress: bool = True,
    dry_run: bool = False,
    workers: int = 1,
) -> list[str]:
    """Run every cell of the sweep not completed yet (see the module docstring).

    Parameters
    ----------
    console
        Where progress goes.
    job_path
        The job file.
    options
        The ``--set`` options, each ``KEY=VALUE[,VALUE...]``, ``KEY=A..B`` or a section's
        tables (:mod:`rengo.jobs.sweep_grid`).
    study
        The study's name (None: the job's name).
    store_path
        ``--store`` (None: the default store).
    executor
        ``--executor`` for every cell (None: the job's).
    progress
        Show each run's progress bar.
    dry_run
        Only list the cells and what the store holds of them.
    workers
        How many cells run at once, each in its own process
        (:mod:`rengo.cli.sweep_workers`; 1: one after another in this process, with
        progress bars). A cell's run is the same either way.

    Returns
    -------
    list of str
        The run id of each cell, in grid order (empty for a dry run).

    Raises
    ------
    ConfigError
        Before any cell runs, as :func:`plan_sweep`, for an unknown ``executor`` (or any,
        for a vertical job: its parties are simulated in this process), for ``workers < 1``,
        or for ``workers > 1`` with cells that run on Ray (Ray spreads each cell already).
    RengoError
        After every other cell ran, naming each cell whose run failed.
    """
    from rengo.cli.run_job import run_job
    from rengo.jobs.spec import check_choice
    from rengo.transport import executor_names

    if executor is not None:
        check_choice("--executor", "executor", executor, executor_names())
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    document = read_job_document(job_path)
    name = study
    if name is None:
        name = job_from_document(job_path, document).job.name
    planned = plan_sweep(job_path, options, name, store_path, document)
    vertical = planned[0].spec.vfl is not None
    if vertical and executor is not None:
        raise ConfigError(
            f"--executor picks where a horizontal job's clients train; {job_path} is a "
            "vertical job, whose parties are simulated in this process: leave --executor out"
        )
    if workers > 1:
        on_ray = [p.cell.label for p in planned if (executor or p.spec.job.executor) == "ray"]
        if on_ray:
            raise ConfigError(
                f"--workers {workers} runs cells in processes of this machine, but cell "
                f"{on_ray[0]!r} runs on Ray, which spreads each cell's clients already: leave "
                "--workers out (or use another executor)"
            )
    total = len(planned)
    done = sum(1 for p in planned if p.recorded is not None and p.recorded.status == COMPLETED)
    console.print(
        f"study {escape(name)}: {total} cell(s) of {escape(str(job_path))}"
        + (f", {done} completed before" if done else ""),
        soft_wrap=True,
    )
    if dry_run:
        for k, p in enumerate(planned, 1):
            state = "to run" if p.recorded is None else f"{p.recorded.status} {p.recorded.run_id}"
            console.print(f"cell {k}/{total} {escape(p.cell.label)}: {state}", soft_wrap=True)
        return []
    run_ids: dict[int, str] = {}
    failed: list[str] = []
    to_run: list[tuple[int, PlannedCell, str, str | None]] = []
    for k, p in enumerate(planned, 1):
        head = f"cell {k}/{total} {escape(p.cell.label)}"
        recorded = p.recorded
        if recorded is not None and recorded.status == COMPLETED:
            console.print(f"{head}: completed before, run {recorded.run_id}", soft_wrap=True)
            run_ids[k] = recorded.run_id
            continue
        if recorded is not None and recorded.status == RUNNING:
            failed.append(f"{p.cell.label} (run {recorded.run_id} is running in another process)")
            console.print(f"{head}: run {recorded.run_id} is still running; left to it")
            continue
        resume = recorded.run_id if recorded is not None and recorded.status in RESUMED else None
        if resume is not None and vertical:  # rengo run continues horizontal runs only
            head += f": run {resume} was interrupted; a vertical cell is run anew"
            resume = None
        to_run.append((k, p, head + (f": resuming run {resume}" if resume else ""), resume))
    if workers > 1 and to_run:
        _run_in_processes(
            console,
            to_run,
            workers,
            job_path,
            document,
            store_path,
            executor,
            name,
            run_ids,
            failed,
        )
        to_run = []  # run there
    for k, p, head, resume in to_run:
        console.print(head, soft_wrap=True, style="bold")
        try:
            run_ids[k] = run_job(
                console,
                job_path,
                store_path=store_path,
                executor=executor,
                progress=progress,
                overrides=p.cell.overrides,
                resume=resume,
                study=name,
                run_name=f"{name} {p.cell.label}",
                spec=p.spec,  # loaded by the plan: the job file is not read again
            )
        except RengoError as exc:  # the other cells still run; the sweep then says which failed
            failed.append(f"{p.cell.label} ({exc})")
            console.print(f"[red]{head} failed:[/] {escape(str(exc))}", soft_wrap=True)
    store_words = ["--store", str(store_path)] if store_path is not None else []
    compare = shlex.join(["rengo", "runs", "compare", "--study", name, *store_words])
    if failed:
        raise RengoError(
            f"{len(failed)} of {total} cells did not complete: {'; '.join(failed)}; the others "
            f"are kept: run the same rengo sweep again to retry them, `{compare}` sums up the rest"
        )
    listed = shlex.join(["rengo", "runs", "list", "--study", name, *store_words])
    console.print(
        f"study {escape(name)}: {total} cell(s) completed; list them: {listed}; compare them: "
        f"{compare}",
        soft_wrap=True,
    )
    return [run_ids[k] for k in sorted(run_ids)]


def _run_in_processes(
    console: Console,
    to_run: Sequence[tuple[int, PlannedCell, str, str | None]],
    workers: int,
    job_path: Path,
    document: Mapping[str, Any],
    store_path: Path | None,
    executor: str | None,
    study: str,
    run_ids: dict[int, str],
    failed: list[str],
) -> None:
    """Run ``to_run`` ``workers`` at a time in child processes (:mod:`rengo.cli.sweep_workers`),
    a line as each starts and ends; fills ``run_ids`` and ``failed`` as the serial loop does."""
    from rengo.cli.sweep_workers import CellOutcome, CellRun, run_cells_in_processes

    heads = {k: head for k, _, head, _ in to_run}
    labels = {k: p.cell.label for k, p, _, _ in to_run}
    cells = [
        CellRun(
            k,
            job_path,
            document,
            tuple(p.cell.overrides),
            store_path,
            executor,
            resume,
            study,
            f"{study} {p.cell.label}",
            os.getpid(),
        )
        for k, p, _, resume in to_run
    ]

    def started(cell: CellRun) -> None:
        console.print(f"{heads[cell.index]}: started", soft_wrap=True, style="bold")

    def finished(cell: CellRun, outcome: CellOutcome) -> None:
        head = heads[cell.index]
        done = outcome.error is None and outcome.run_id is not None
        if done:
            run_ids[cell.index] = str(outcome.run_id)
            line = f"{head}: completed, run {outcome.run_id} ({outcome.seconds:.0f} s)"
        else:
            failed.append(f"{labels[cell.index]} ({outcome.error})")
            line = f"[red]{head} failed:[/] {escape(str(outcome.error))}"
        console.print(line, soft_wrap=True)
        # what the cell's run printed (its metrics, an early stop, a payout table), under it
        for printed in outcome.output.rstrip().splitlines():
            console.print(f"  {escape(printed)}", soft_wrap=True, highlight=False)

    run_cells_in_processes(cells, workers, started, finished)
