"""``-v`` / ``--log-level`` / ``--log-format`` on every ``rengo`` command, wherever typed.

``rengo -v run job.toml`` and ``rengo run job.toml -v`` are the same: each command (and the
top-level ``rengo``) takes ``-v`` (info; ``-vv`` debug) and ``--log-level LEVEL``. At debug
level a failing client's traceback is shown (once), with every protocol step. By default
(``--log-format console``) records go through rich's handler to standard error, so they print
above live progress bars. ``--log-format text`` or ``json`` (or ``$RENGO_LOG_FORMAT``) is for
a log pipeline: every diagnostic a command prints (its progress lines, warnings and errors,
and the library's records) becomes one record a line on standard error, with its UTC time,
level, logger and the run, round and party it concerns (:mod:`rengo.cli.log_formats`), no
progress bar is drawn, and standard output keeps only the command's results.

The options are added to every command of the tree by :class:`LoggingGroup`, the top-level
group's class, so a command module never declares them.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from enum import Enum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

_HANDLER_NAME = "rengo-cli"


class LogFormat(str, Enum):
    """What ``--log-format`` accepts: rich's console lines (for a person at a terminal), or
    one timestamped record a line, as text or JSON (for a log pipeline)."""

    console = "console"
    text = "text"
    json = "json"


_chosen: dict[str, Any] = {"format": LogFormat.console}

EVENTS_LOGGER = "rengo.cli"
"""The logger a command's own progress lines go to under ``--log-format text|json``."""


def log_format() -> LogFormat:
    """The format chosen for this command (``console`` unless ``--log-format`` or
    ``$RENGO_LOG_FORMAT`` said otherwise)."""
    return LogFormat(_chosen["format"])


def structured_logs() -> bool:
    """True under ``--log-format text`` or ``json``: diagnostics are log records, not
    console lines, and no progress bar is drawn."""
    return log_format() is not LogFormat.console


class _StandardErrorHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the standard error of the moment (a test may swap ``sys.stderr``)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to ``sys.stderr`` as it is now."""
        self.stream = sys.stderr  # not setStream: it flushes the old one, perhaps closed
        super().emit(record)


def _handler(chosen: LogFormat) -> logging.Handler:
    """A person at a terminal gets rich's handler; off one (a pipe, a file, a service's
    journal) one timestamped text line a record: rich wraps at 80 columns there."""
    from rich.console import Console

    if chosen is LogFormat.console and Console(stderr=True).is_terminal:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=Console(stderr=True),
            show_time=False,
            show_path=False,
            rich_tracebacks=False,
            markup=False,
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        return handler
    from rengo.cli.log_formats import JsonLineFormatter, TextLineFormatter

    handler = _StandardErrorHandler()
    handler.setFormatter(JsonLineFormatter() if chosen is LogFormat.json else TextLineFormatter())
    return handler


GRPC_VERBOSITY = "GRPC_VERBOSITY"
"""The environment variable gRPC's C core reads, once, when ``grpc`` is imported."""


def quiet_grpc_core() -> None:
    """Keep gRPC's C core from writing its own lines to stderr (``E1206 16:21:50.311801 ...
    http_connect_client_handshaker.cc:114] HTTP proxy handshake ... failed``, then a source
    trace) above the one line in which rengo says what the same failure means and what to
    do: a command sets ``$GRPC_VERBOSITY`` to ``NONE`` before anything imports ``grpc``,
    unless it is set already. ``-vv`` / ``--log-level debug`` give gRPC's lines back."""
    if GRPC_VERBOSITY not in os.environ:
        os.environ[GRPC_VERBOSITY] = "NONE"
        _chosen["grpc_quieted"] = True


def configure_logging(level: int | None = None, chosen: LogFormat | None = None) -> None:
    """Send ``rengo.*`` records to standard error (one handler, replaced when the format
    changes), at ``level`` and above (None: leave the level alone; warnings and errors by
    default, info under ``text`` and ``json``, where a command's progress lines are info
    records), in the format ``chosen`` (None: leave it alone). At ``DEBUG`` gRPC's own
    error lines are shown again where :func:`quiet_grpc_core` hid them."""
    logger = logging.getLogger("rengo")
    if level is not None:
        logger.setLevel(level)
        _chosen["level_given"] = True
        if level <= logging.DEBUG and _chosen.pop("grpc_quieted", False):
            os.environ[GRPC_VERBOSITY] = "ERROR"  # gRPC's default
    if chosen is not None:
        _chosen["format"] = chosen
        if structured_logs() and not _chosen.get("level_given"):
            logger.setLevel(logging.INFO)
    wanted = log_format()
    name = f"{_HANDLER_NAME}:{wanted.value}"
    ours = [h for h in logger.handlers if (h.get_name() or "").startswith(_HANDLER_NAME)]
    if [h.get_name() for h in ours] != [name]:
        for old in ours:
            logger.removeHandler(old)
        handler = _handler(wanted)
        handler.set_name(name)
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


def _format(value: LogFormat | None) -> None:
    if value is not None:
        configure_logging(chosen=LogFormat(value))


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
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            envvar="RENGO_LOG_FORMAT",
            expose_value=False,
            is_eager=True,
            case_sensitive=False,
            callback=_format,
            help="console (for a terminal), or text / json: one record a line on stderr with "
            "its UTC time, level, logger, run, round and party, for a log pipeline.",
        ),
    ] = None,
) -> None:
    """Never run: its parameters become every command's logging options."""


def logging_options() -> list[Any]:
    """``-v/--verbose`` (repeatable), ``--log-level`` and ``--log-format``, applied as soon
    as parsed (built by typer from :func:`_template`'s annotations, like any other option)."""
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
