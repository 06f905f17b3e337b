"""``-v`` / ``--log-level`` on every ``rengo`` command, wherever they are typed.

``rengo -v run job.toml`` and ``rengo run job.toml -v`` are the same: each command (and the
top-level ``rengo``) takes ``-v`` (info; ``-vv`` debug) and ``--log-level LEVEL``. At debug
level a failing client's traceback is shown (once), with every protocol step. Records go
through rich's handler to standard error, so they print above live progress bars.

The options are added to every command of the tree by :class:`LoggingGroup`, the top-level
group's class, so a command module never declares them.
"""

from __future__ import annotations

import inspect
import logging
from enum import Enum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

_HANDLER_NAME = "rengo-cli"


def configure_logging(level: int | None = None) -> None:
    """Send ``rengo.*`` records to standard error (the handler is added once), at ``level``
    and above (None: leave the level alone; warnings and errors by default)."""
    logger = logging.getLogger("rengo")
    if level is not None:
        logger.setLevel(level)
    if not any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(stderr=True),
            show_time=False,
            show_path=False,
            rich_tracebacks=False,
            markup=False,
        )
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)


class LogLevel(str, Enum):
    """What ``--log-level`` accepts."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _verbosity(value: int) -> None:
    if value:
        configure_logging(logging.INFO if value == 1 else logging.DEBUG)


def _level(value: LogLevel | None) -> None:
    if value is not None:
        configure_logging(getattr(logging, LogLevel(value).value.upper()))


def _template(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            expose_value=False,
            is_eager=True,
            callback=_verbosity,
            help="More detail: -v progress messages, -vv debug (client tracebacks included).",
        ),
    ] = 0,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            expose_value=False,
            is_eager=True,
            case_sensitive=False,
            callback=_level,
            help="Log level: debug (client tracebacks included), info, warning, error.",
        ),
    ] = None,
) -> None:
    """Never run: its parameters become every command's logging options."""


def logging_options() -> list[Any]:
    """``-v/--verbose`` (repeatable) and ``--log-level``, applied as soon as parsed (built by
    typer from :func:`_template`'s annotations, like any other option)."""
    template = typer.Typer(add_completion=False)
    template.command()(_template)
    return list(typer.main.get_command(template).params)


def _held_commands(command: Any) -> list[Any]:
    """The commands ``command`` holds now: ``dict``'s own ``values`` does not load a deferred
    group's commands (:mod:`rengo.cli.deferred_groups`, which treats them when it loads them)."""
    return list(dict.values(getattr(command, "commands", {})))


def add_logging_options(command: Any) -> None:
    """Give ``command`` and every command under it the logging options (idempotent)."""
    names = {name for p in command.params for name in getattr(p, "opts", [])}
    if "--log-level" not in names:
        taken = names & {"-v", "--verbose"}
        for option in logging_options():
            option.opts = [o for o in option.opts if o not in taken]
            if option.opts:
                command.params.append(option)
    for sub in _held_commands(command):
        add_logging_options(sub)


def unwrapped_help(command: Any) -> None:
    """Join the line breaks inside each paragraph of every command's help under ``command``
    (a paragraph that starts with a backspace character keeps them), and give each command a
    ``short_help``: its first paragraph. Typer's rich help keeps a docstring's line breaks in
    every paragraph but a help page's first, so help wrapped at the source's width broke
    mid-sentence in ``rengo --help`` and on the commands' own pages (idempotent)."""
    for sub in _held_commands(command):
        if sub.help:
            paragraphs = [
                p if p.startswith("\b") else " ".join(p.split())
                for p in inspect.cleandoc(sub.help).split("\n\n")
            ]
            sub.help = "\n\n".join(paragraphs)
            if sub.short_help is None:
                sub.short_help = paragraphs[0]
        unwrapped_help(sub)


class LoggingGroup(TyperGroup):
    """The top-level group: adds the logging options to every command under it and unwraps
    their help text (:func:`unwrapped_help`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_logging_options(self)
        unwrapped_help(self)
