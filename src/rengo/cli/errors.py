"""Turn rengo's errors into one clear line and an exit code, instead of a traceback, and its
warnings into one line too; a SIGTERM or SIGHUP ends a command the way Ctrl-C does (a run is
recorded ``interrupted``, resumable)."""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TextIO

import typer
from rich.console import Console
from rich.markup import escape

from rengo.cli.logging_options import structured_logs
from rengo.core.errors import ConfigError, DataError, RengoError

log = logging.getLogger("rengo.cli")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager, ``kill``, a container stop) or SIGHUP (the terminal or SSH
    session closed), raised where Ctrl-C's KeyboardInterrupt would be, so the same clean-up
    runs. ``signum`` is the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP) if hasattr(signal, "SIGHUP") else (signal.SIGTERM,)
"""The signals a command ends on as it does on Ctrl-C (Windows has no SIGHUP)."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the body runs (in the main thread), SIGTERM and SIGHUP raise
    :class:`Terminated`. A SIGHUP that was ignored when the command started (``nohup``)
    stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = {}
    for stop in STOP_SIGNALS:
        if signal.getsignal(stop) is not signal.SIG_IGN:
            previous[stop] = signal.signal(stop, raise_terminated)
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def _stopped_by(exc: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped a command, in words, and its exit code: 128 plus the signal's number
    (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), as a shell reports a signal's death."""
    if not isinstance(exc, Terminated):
        return "interrupted", 128 + signal.SIGINT
    name = signal.Signals(exc.signum).name
    return f"{'hung up' if name == 'SIGHUP' else 'terminated'} ({name})", 128 + exc.signum


error_console = Console(stderr=True)
"""Where error lines go: stderr, as typer's own usage errors, so ``2>/dev/null`` hides them
and a script reading a command's stdout never reads an error as its result."""


def print_error(message: str) -> None:
    """Say ``message`` as the one ``error: ...`` line on stderr (under ``--log-format
    text|json``: an error record of ``rengo.cli``)."""
    if structured_logs():
        log.error("%s", message)
    else:
        error_console.print(
            f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True
        )


def show_warnings_as_lines() -> None:
    """Print Python warnings as one ``warning:`` line on stderr, as errors print, instead
    of Python's ``path/to/file.py:60: SomeWarning: ...`` followed by the source line (which
    names rengo's code, not the user's). Python's filters still decide which are shown."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if structured_logs():
            log.warning("%s (%s)", message, category.__name__)
            return
        error_console.print(
            f"[yellow]warning:[/] {escape(str(message))} ({category.__name__})",
            highlight=False,
            soft_wrap=True,
        )

    warnings.showwarning = show


@contextmanager
def friendly_errors(kept: str | Callable[[], str] = "") -> Iterator[None]:
    """Exit 2 on configuration or data errors, 1 on other rengo errors, with the message on
    stderr (and, at debug level, where it was raised); 130 after Ctrl-C, 143 after SIGTERM
    and 129 after SIGHUP (each recorded as an interruption), said on stderr with ``kept``
    (what a command that records rounds keeps, or a function that says it once the run is
    interrupted; a command that keeps nothing says nothing about it). A run store's refusal
    to write that left a run interrupted (:class:`~rengo.tracking.StoreUnwritableError`,
    :class:`~rengo.tracking.StoreBusyError`) is said with ``kept`` too, as is a Ray cluster
    that had no node to run a client task (:class:`~rengo.core.errors.UnrunnableClientTask`,
    exit 2)."""
    try:
        with terminate_as_interrupt():
            yield
    except (ConfigError, DataError) as exc:
        log.debug("where the error was raised", exc_info=True)
        print_error(_with_resume_hint(exc, kept))
        raise typer.Exit(2) from None
    except RengoError as exc:
        log.debug("where the error was raised", exc_info=True)
        print_error(_with_resume_hint(exc, kept))
        raise typer.Exit(1) from None
    except KeyboardInterrupt as exc:
        how, code = _stopped_by(exc)
        said = kept() if callable(kept) else kept
        if structured_logs():
            log.warning("%s%s", how, "; " + said if said else "")
        else:  # a diagnostic: stderr, so that stdout holds only what a command produced
            error_console.print(f"[yellow]{how}{'; ' + said if said else ''}", soft_wrap=True)
        raise typer.Exit(code) from None


def _with_resume_hint(exc: RengoError, kept: str | Callable[[], str]) -> str:
    """``exc``'s message, followed by what the run keeps and the command that continues it
    (``kept``) where the error left a run interrupted: a run store that refused a write (its
    disk full, read-only, held by another process) stops a run as Ctrl-C does, and the user
    needs the same ``--resume`` line once the store can be written again."""
    said = kept() if callable(kept) and getattr(exc, "interrupted_run", None) else ""
    return f"{exc}; {said}" if said else str(exc)


ROUNDS_KEPT = "completed rounds are kept in the run store"
"""What an interrupted command that records a horizontal run's rounds keeps."""
