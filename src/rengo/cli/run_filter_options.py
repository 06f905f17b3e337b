"""The options that pick runs by name and start day (and the zone that day is in), shared
by the commands that list or add up runs (``rengo runs list``, ``rengo rewards totals``,
``rengo runs compare``); each becomes a :class:`~rengo.tracking.RunFilter` through
``RunFilter.from_text``, and :func:`chosen_runs` picks the runs it matches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rengo.tracking import RunFilter, RunInfo, RunStore

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


def chosen_runs(store: RunStore, run_ids: Sequence[str] | None, wanted: RunFilter) -> list[RunInfo]:
    """The runs a command adds up: those named (each once, in the order given), else every
    run of ``store``, oldest first; either way only those ``wanted`` matches."""
    if run_ids:
        runs = [store.get_run(run_id) for run_id in dict.fromkeys(run_ids)]
    else:
        runs = list(reversed(store.list_runs(limit=None)))
    return [run for run in runs if wanted.matches(run)]
