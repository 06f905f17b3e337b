"""``rengo sweep --workers N``: a study's cells run N at a time, each in its own process.

A cell's run is the run ``rengo sweep`` would make alone (the same job from the same reading
of the job file, the same seed, the same store): cells do not share a process, so one cell's
global state (a torch thread count, a seeded generator, an imported module's cache) never
reaches another's, and the same seed gives the same result whatever ``--workers`` says.
Each child process starts fresh (``spawn``: no copy of the parent's threads or gRPC state)
and reports back one JSON line: the run id, or the error that stopped the cell.

Stopping: the children run in their own process group (SIGINT is blocked from before a
child starts until it has left the sweep's group, so a Ctrl-C from the terminal reaches it
once at most), so Ctrl-C or SIGTERM reaches the sweep alone, which passes one SIGINT to each
running child: each records its run as interrupted, exactly as a cell stopped in the sweep's
own process would be, and the next ``rengo sweep`` resumes it. A child still there
:data:`STOP_GRACE_S` seconds later is sent SIGTERM (the same clean stop), then SIGKILL. A
child whose sweep was killed outright (SIGKILL, the OOM killer) stops itself the same way
within a second or two (:func:`~rengo.transport.parent_watch.end_with_parent`) instead of
training on unseen, its run recorded as interrupted.

Each cell's process imports rengo afresh (about a second) and, for most jobs, scikit-learn
with SciPy and pandas (a few seconds more: the held-out split and the bundled datasets use
it): ``--workers`` pays off when cells take longer than that.
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
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_POLL_SECONDS = 0.2
_OUTPUT_CHARS = 20_000
STOP_GRACE_S = 60.0
"""Seconds a stopped cell has to record its run as interrupted before it is sent SIGTERM,
and again before SIGKILL."""


@dataclass(frozen=True)
class CellRun:
    """One cell to run in a child process: what :func:`~rengo.cli.run_job.run_job` needs.

    Attributes
    ----------
    index
        The cell's place in the grid (1-based, as the sweep's lines number it).
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
    sweep_pid
        The sweep's process id: a cell orphaned while it started stops at once.
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
    sweep_pid: int = 0


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
    """A child process: run one cell, send one JSON line back (never a pickle).

    It starts with SIGINT blocked (the sweep blocks it around the start, and the mask
    survives ``exec``); it leaves the sweep's process group before taking SIGINT again, so a
    Ctrl-C that reached the group while it started is one pending SIGINT, not two."""
    os.setpgrp()  # Ctrl-C reaches the sweep alone, which passes one SIGINT on
    if cell.sweep_pid and os.getppid() != cell.sweep_pid:
        return  # the sweep is gone already: nobody to run the cell for
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the sweep ignored it
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from rich.console import Console

    from rengo.cli.errors import show_warnings_as_lines, terminate_as_interrupt
    from rengo.cli.run_job import run_job
    from rengo.core.errors import RengoError
    from rengo.jobs.spec import job_from_document
    from rengo.transport.parent_watch import end_with_parent

    text = io.StringIO()
    console = Console(file=text, width=120, soft_wrap=True)
    run_id: str | None = None
    error: str | None = None
    try:
        # a killed sweep's cell stops as on Ctrl-C (orphaned during the imports: at once)
        end_with_parent(grace_s=STOP_GRACE_S, parent=cell.sweep_pid or None)
        show_warnings_as_lines()
        with terminate_as_interrupt():
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
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped: a second one changes nothing
        error = "interrupted (its run is kept as interrupted; the next rengo sweep resumes it)"
    except Exception as exc:  # a bug: say what, the sweep names the cell
        error = f"{type(exc).__name__}: {exc}"
    output = text.getvalue()[-_OUTPUT_CHARS:]  # its last lines: warnings, the summary
    with contextlib.suppress(OSError):  # a sweep gone has nobody to tell
        reply.send_bytes(json.dumps({"run_id": run_id, "error": error, "output": output}).encode())
        reply.close()


def run_cells_in_processes(
    cells: Sequence[CellRun],
    workers: int,
    started: Callable[[CellRun], None],
    finished: Callable[[CellRun, CellOutcome], None],
) -> None:
    """Run ``cells`` at most ``workers`` at a time, each in a fresh child process.

    Parameters
    ----------
    cells
        The cells to run, in the order they start.
    workers
        How many run at once (>= 1).
    started, finished
        Called in this process as each cell starts and ends (the sweep's lines and record).

    Raises
    ------
    KeyboardInterrupt
        After Ctrl-C (or SIGTERM turned into one): each running child was sent one SIGINT
        and waited for (its run recorded as interrupted; SIGTERM then SIGKILL for one that
        does not stop within :data:`STOP_GRACE_S`); cells not started are not run.
    """
    context = multiprocessing.get_context("spawn")
    # the first spawn starts multiprocessing's resource tracker, which unblocks SIGINT on
    # the way: start it before any cell, so that every cell starts with SIGINT blocked
    resource_tracker.ensure_running()
    waiting = list(cells)
    running: dict[int, tuple[CellRun, Any, Connection, float]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                cell = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(cell, send), daemon=False)
                # blocked from before the child exists until it left this process group;
                # a Ctrl-C held meanwhile is raised at the unblock, once the child is
                # registered, so that the stop below reaches it too
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    process.start()
                    running[cell.index] = (cell, process, receive, time.monotonic())
                finally:
                    send.close()  # the child holds its end
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                started(cell)
            for index, (cell, process, receive, start) in list(running.items()):
                if not receive.poll(0) and process.is_alive():
                    continue
                outcome = _outcome(cell, process, receive, start)
                del running[index]
                finished(cell, outcome)
            time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        _stop(running)
        for cell, process, receive, start in running.values():
            finished(cell, _outcome(cell, process, receive, start))
        raise


def _stop(running: Mapping[int, tuple[CellRun, Any, Connection, float]]) -> None:
    """One SIGINT to each running child, then SIGTERM and SIGKILL to those that stay."""
    for escalation in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        alive = [process for _, process, _, _ in running.values() if process.is_alive()]
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, escalation)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))


def _outcome(cell: CellRun, process: Any, receive: Connection, start: float) -> CellOutcome:
    """The child's JSON line, or what its exit says when it sent none (the child joined)."""
    seconds = time.monotonic() - start
    data: Any = None
    with contextlib.suppress(EOFError, OSError, ValueError):
        if receive.poll(0):
            data = json.loads(receive.recv_bytes(1 << 24).decode())
    receive.close()
    process.join()
    if isinstance(data, dict):
        return CellOutcome(
            cell.index,
            data["run_id"] if isinstance(data.get("run_id"), str) else None,
            data["error"] if isinstance(data.get("error"), str) else None,
            data["output"] if isinstance(data.get("output"), str) else "",
            seconds,
        )
    code = process.exitcode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return CellOutcome(
        cell.index,
        None,
        f"its process ended without a result ({how}: killed, or out of memory?); a run it "
        "began reads interrupted, for the next rengo sweep to resume",
        "",
        seconds,
    )
