"""The options that pick runs by name and start day, shared by the commands that list or add
up runs (``rengo runs list``, ``rengo rewards totals``); each becomes a
:class:`~rengo.tracking.RunFilter` through ``RunFilter.from_text``."""

from __future__ import annotations

from typing import Annotated

import typer

NameOption = Annotated[
    str | None,
    typer.Option(help="Only runs whose name or id contains this text (any case)."),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        help="Only runs started on or after this day (YYYY-MM-DD, this machine's time zone)."
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        help="Only runs started on or before this day (YYYY-MM-DD, this machine's time zone)."
    ),
]
