"""``rengo sweep --workers N``: a study's cells run N at a time, each in its own process.

A cell's run is the run ``rengo sweep`` would make alone (the same job from the same reading
of the job file, the same seed, the same store): cells do not share a process, so one cell's
global state (a torch thread count, a seeded generator, an imported module's cache) never
reaches another's, and the same seed gives the same result whatever ``--workers`` says.
Each child process starts fresh (``spawn``: no copy of the parent's threads or gRPC state)
and reports back one JSON line: the run id, or the error that stopped the cell.

Stopping: the children run in their own process group, so Ctrl-C (or SIGTERM to the sweep)
reaches the sweep alone, which passes one SIGINT to each running child: each records its run
as interrupted, exactly as a cell stopped in the sweep's own process would be, and the next
``rengo sweep`` resumes it.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_POLL_SECONDS = 0.2
_OUTPUT_CHARS = 20_000


@dataclass(frozen=True)
class CellRun:
    """One cell to run in a child process: what :func:`~rengo.cli.run_job.run_job` needs.

    Attributes
    ----------
    index
        The cell's place in the grid (0-based).
    job_path
        The job file.
    document
        Its TOML as the sweep read it (the child does not read the file again).
    overrides
        The cell's ``--set`` overrides.
    store_path
        ``--store`` (None: the default store).
    executor
        ``--executor`` (None: the job's).
    resume
        The interrupted run to continue, or None.
    study
        The study's name.
    run_name
        The cell's run name.
    """

    index: int
    job_path: Path
    document: Mapping[str, Any]
    overrides: tuple[str, ...]
    store_path: Path | None
    executor: str | None
    resume: str | None
    study: str
    run_name: str


@dataclass(frozen=True)
class CellOutcome:
    """What became of a cell run in a child process.

    Attributes
    ----------
    index
        The cell's place in the grid.
    run_id
        Its run, or None when it failed before one was made.
    error
        Why it did not complete (None: it completed).
    output
        What the cell's run printed (its warnings and summary).
    seconds
        Wall time of the child.
    """

    index: int
    run_id: str | None
    error: str | None
    output: str
    seconds: float


def _child(cell: CellRun, reply: Connection) -> None:
    """A child process: run one cell, send one JSON line back (never a pickle)."""
    os.setpgrp()  # Ctrl-C reaches the sweep alone, which passes one SIGINT on
    from rich.console import Console

    from rengo.cli.run_job import run_job
    from rengo.core.errors import RengoError
    from rengo.jobs.spec import job_from_document

    text = io.StringIO()
    console = Console(file=text, width=120, soft_wrap=True)
    run_id: str | None = None
    error: str | None = None
    try:
        spec = job_from_document(cell.job_path, cell.document, cell.overrides)
        run_id = run_job(
            console,
            cell.job_path,
            store_path=cell.store_path,
            executor=cell.executor,
            progress=False,
            overrides=cell.overrides,
            resume=cell.resume,
            study=cell.study,
            run_name=cell.run_name,
            spec=spec,
        )
    except RengoError as exc:
        error = str(exc)
    except KeyboardInterrupt:
        error = "interrupted (its run is kept as interrupted; the next rengo sweep resumes it)"
    except Exception as exc:  # a bug: say what, the sweep names the cell
        error = f"{type(exc).__name__}: {exc}"
    output = text.getvalue()[-_OUTPUT_CHARS:]  # its last lines: warnings, the summary
    reply.send_bytes(json.dumps({"run_id": run_id, "error": error, "output": output}).encode())
    reply.close()


def run_cells_in_processes(
    cells: Sequence[CellRun],
    workers: int,
    started: Callable[[CellRun], None],
    finished: Callable[[CellRun, CellOutcome], None],
) -> list[CellOutcome]:
    """Run ``cells`` at most ``workers`` at a time, each in a fresh child process.

    Parameters
    ----------
    cells
        The cells to run, in the order they start.
    workers
        How many run at once (>= 1).
    started, finished
        Called in this process as each cell starts and ends (for the sweep's lines).

    Returns
    -------
    list of CellOutcome
        One per cell, in the order they finished.

    Raises
    ------
    KeyboardInterrupt
        After Ctrl-C (or SIGTERM turned into one): each running child was sent one SIGINT
        and waited for (its run recorded as interrupted); cells not started are not run.
    """
    context = multiprocessing.get_context("spawn")
    waiting = list(cells)
    running: dict[int, tuple[CellRun, Any, Connection, float]] = {}
    outcomes: list[CellOutcome] = []
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                cell = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(cell, send), daemon=False)
                process.start()
                send.close()  # the child holds its end
                running[cell.index] = (cell, process, receive, time.monotonic())
                started(cell)
            for index, (cell, process, receive, start) in list(running.items()):
                if receive.poll(0):
                    outcome = _outcome(cell, receive, start)
                    process.join()
                elif not process.is_alive():
                    process.join()
                    outcome = _outcome(cell, receive, start, process.exitcode)
                else:
                    continue
                receive.close()
                del running[index]
                outcomes.append(outcome)
                finished(cell, outcome)
            time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        for _, process, _, _ in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
        for cell, process, receive, start in running.values():
            process.join()
            outcome = _outcome(cell, receive, start, process.exitcode)
            outcomes.append(outcome)
            finished(cell, outcome)
        raise
    return outcomes


def _outcome(
    cell: CellRun, receive: Connection, start: float, exitcode: int | None = None
) -> CellOutcome:
    """The child's JSON line, or what its exit says when it sent none."""
    seconds = time.monotonic() - start
    try:
        if receive.poll(0):
            data = json.loads(receive.recv_bytes(1 << 24).decode())
            return CellOutcome(
                cell.index,
                data["run_id"] if isinstance(data.get("run_id"), str) else None,
                data["error"] if isinstance(data.get("error"), str) else None,
                data["output"] if isinstance(data.get("output"), str) else "",
                seconds,
            )
    except (EOFError, OSError, ValueError):
        pass
    return CellOutcome(
        cell.index,
        None,
        f"its process ended without a result (exit code {exitcode}: killed, or out of memory?)",
        "",
        seconds,
    )
