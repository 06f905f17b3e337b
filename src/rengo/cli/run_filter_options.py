"""The options that pick runs by name and start day (and the zone that day is in), shared
by the commands that list or add up runs (``rengo runs list``, ``rengo rewards totals``);
each becomes a :class:`~rengo.tracking.RunFilter` through ``RunFilter.from_text``."""

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
        help="Only runs started on or after this day (YYYY-MM-DD, in --tz: this machine's "
        "time zone unless given)."
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        help="Only runs started on or before this day (YYYY-MM-DD, in --tz: this machine's "
        "time zone unless given)."
    ),
]
TzOption = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="The time zone --since and --until are days in (IANA name: UTC, Europe/Berlin); "
        "default this machine's. Give the same one (UTC) on every partner's machine: a run "
        "started 23:30 UTC on Nov 30 is a December run in Tokyo.",
    ),
]
