"""A command's own progress and diagnostic lines: console text for a person, log records for
a log pipeline.

Under ``--log-format console`` (the default) :func:`say` prints ``message`` on ``console`` as
one line, never wrapped at the terminal's width (a piped command's console is 80 columns
wide, and a line wrapped there reads as two records in a log file). Under ``--log-format text``
or ``json`` it is a record of :data:`~rengo.cli.logging_options.EVENTS_LOGGER` instead, on
standard error with its time, level, run, round and party, so standard output keeps only the
command's results.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console
from rich.text import Text

from rengo.cli.logging_options import EVENTS_LOGGER, structured_logs


def say(
    console: Console,
    message: str,
    *,
    level: int = logging.INFO,
    style: str = "",
    **fields: Any,
) -> None:
    """Show ``message`` (plain text, no markup) as one line.

    Parameters
    ----------
    console
        Where it prints under ``--log-format console``.
    message
        The line.
    level
        Its level as a log record (info: progress; warning; error).
    style
        A rich style for the console line (``"yellow"``), none in a record.
    fields
        ``round`` or ``party`` where the line concerns one (see
        :mod:`rengo.cli.log_formats`).
    """
    if structured_logs():
        known = {name: value for name, value in fields.items() if value is not None}
        logging.getLogger(EVENTS_LOGGER).log(level, message, extra=known)
    else:
        console.print(Text(message, style=style), highlight=False, soft_wrap=True)


def progress_bars_shown(wanted: bool, console: Console) -> bool:
    """Whether to draw a live progress bar: asked for, on a terminal, and not under
    ``--log-format text|json``. Off a terminal rich draws no live bar but prints its last
    frame when it stops: box-drawing characters cut at 80 columns into a log file."""
    return wanted and console.is_terminal and not structured_logs()


def echo(console: Console, message: str) -> None:
    """Print ``message``, a line the library also logs as a record (a hub's join, leave or
    round line; a party's last word), on ``console`` as one line; under ``--log-format
    text|json`` the library's own record is the line (under its own logger), so nothing is
    added: the same event twice in a log is noise."""
    if not structured_logs():
        console.print(Text(message), highlight=False, soft_wrap=True)


def vertical_progress(wanted: bool, console: Console) -> Any:
    """What a vertical command passes as ``progress``: rich's bars on a terminal; off one
    (or under ``--log-format text|json``) a line for each stage and epoch a role ends,
    so a log shows how a long encrypted run advances; nothing when not ``wanted``."""
    if progress_bars_shown(wanted, console):
        return True
    if not wanted:
        return False
    from rengo.vfl import VerticalProgress

    def line(event: VerticalProgress) -> None:
        if event.ends_epoch and event.epoch is not None:
            of = f"/{event.epochs}" if event.epochs else ""
            loss = f", loss {event.loss:.4f}" if event.loss is not None else ""
            say(console, f"{event.party}: {event.unit} {event.epoch}{of} done{loss}")
        elif event.finished and event.stage != "train":
            stage = f"{event.stage} ({event.phase})" if event.phase else event.stage
            matched = f", {event.matched} matched" if event.matched is not None else ""
            detail = f", {event.detail}" if event.detail else ""
            say(console, f"{event.party}: {stage} done{matched}{detail}")

    return line
