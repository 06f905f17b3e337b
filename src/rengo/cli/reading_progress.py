"""What ``rengo vfl party`` shows while it reads its table: a bank's few million rows take
minutes to parse, before the party even connects, and before it said nothing meanwhile.

On a terminal a rich spinner names the file being read; on a terminal or off one (a log
file, ``--log-format text|json``) one line says what was read and in how long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from rengo.cli.console_lines import progress_bars_shown, say
from rengo.vfl import PartyData


def read_line(party: str, data: PartyData, seconds: float) -> str:
    """``"bank: read 3,000 rows x 40 columns to train, 500 to score (1.2 s)"``."""
    tables = []
    if data.table is not None:
        tables.append(f"{len(data.table.ids):,} rows to train")
    if data.score_table is not None:
        tables.append(f"{len(data.score_table.ids):,} to score")
    columns = len(data.feature_names)
    return f"{party}: read {', '.join(tables) or 'no rows'} x {columns} columns ({seconds:.1f} s)"


@contextmanager
def reading_shown(
    console: Console, party: str, source: str, *, spinner: bool = True
) -> Iterator[list[PartyData]]:
    """Show that ``party`` reads ``source`` while the block runs, and what it read after.

    Parameters
    ----------
    console
        The command's console.
    party
        The party's name.
    source
        What it reads (a file's name).
    spinner
        Whether a spinner may be drawn (on a terminal; ``--no-progress`` says no); the
        line is said either way.

    Returns
    -------
    Iterator
        Yields a list the block appends the :class:`~rengo.vfl.PartyData` it read to; its
        line is said when the block ends without error.
    """
    read: list[PartyData] = []
    started = time.perf_counter()
    if progress_bars_shown(spinner, console):
        with console.status(f"{party}: reading {source} ...", spinner="dots"):
            yield read
    else:
        yield read
    if read:
        say(console, read_line(party, read[-1], time.perf_counter() - started))
