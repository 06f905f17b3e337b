"""Turn rengo's errors into one clear line and an exit code, instead of a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from rengo.core.errors import ConfigError, DataError, RengoError

log = logging.getLogger("rengo.cli")


@contextmanager
def friendly_errors(console: Console) -> Iterator[None]:
    """Exit 2 on configuration or data errors, 1 on other rengo errors, with the message
    (and, at debug level, where it was raised)."""
    try:
        yield
    except (ConfigError, DataError) as exc:
        log.debug("where the error was raised", exc_info=True)
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except RengoError as exc:
        log.debug("where the error was raised", exc_info=True)
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; completed rounds are kept in the run store")
        raise typer.Exit(130) from None
