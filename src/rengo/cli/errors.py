"""Turn rengo's errors into one clear line and an exit code, instead of a traceback, and its
warnings into one line too; a SIGTERM ends a command the way Ctrl-C does (a run is recorded
``interrupted``, resumable)."""

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

from rengo.core.errors import ConfigError, DataError, RengoError

log = logging.getLogger("rengo.cli")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager, ``kill``, a container stop), raised where Ctrl-C's
    KeyboardInterrupt would be, so the same clean-up runs."""


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the body runs (in the main thread), SIGTERM raises :class:`Terminated`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


error_console = Console(stderr=True)
"""Where error lines go: stderr, as typer's own usage errors, so ``2>/dev/null`` hides them
and a script reading a command's stdout never reads an error as its result."""


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
        error_console.print(
            f"[yellow]warning:[/] {escape(str(message))} ({category.__name__})",
            highlight=False,
            soft_wrap=True,
        )

    warnings.showwarning = show


@contextmanager
def friendly_errors(console: Console, kept: str | Callable[[], str] = "") -> Iterator[None]:
    """Exit 2 on configuration or data errors, 1 on other rengo errors, with the message on
    stderr (and, at debug level, where it was raised); 130 after Ctrl-C and 143 after
    SIGTERM (both recorded as an interruption), followed on ``console`` by ``kept`` (what
    a command that records rounds keeps, or a function that says it once the run is
    interrupted; a command that keeps nothing says nothing about it)."""
    try:
        with terminate_as_interrupt():
            yield
    except (ConfigError, DataError) as exc:
        log.debug("where the error was raised", exc_info=True)
        error_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(2) from None
    except RengoError as exc:
        log.debug("where the error was raised", exc_info=True)
        error_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from None
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        said = kept() if callable(kept) else kept
        console.print(f"[yellow]{how}{'; ' + said if said else ''}")
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None


ROUNDS_KEPT = "completed rounds are kept in the run store"
"""What an interrupted command that records a horizontal run's rounds keeps."""
