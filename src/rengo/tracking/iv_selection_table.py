"""How ``rengo runs show`` shows a vertical run's selection of columns by IV."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

IV_SELECTION = "iv_selection"
"""The run summary's key of a vertical job's ``[vfl.selection]`` record: its settings and
every column's party, name, IV and whether it was kept."""


def iv_selection_table(
    record: Mapping[str, Any], given: Mapping[str, Any] | None = None
) -> Table | None:
    """Every column's IV, largest first, and whether the run kept it (where the record
    says: a column without ``kept`` was only measured), the rule in its title and the binning
    settings in effect below it (the least rows of a bin marked ``(default)`` where the job
    left it to its default).

    Parameters
    ----------
    record
        The run summary's ``iv_selection`` value.
    given
        The selection's settings as the run was given them (its config's ``selection``):
        without ``min_bin_rows``, the record's is the default's value; ``None``: not known,
        nothing marked.

    Returns
    -------
    rich.table.Table or None
        The table, or ``None`` if ``record`` holds no column (an unreadable record).
    """
    columns = record.get("columns")
    if not isinstance(columns, list) or not columns:
        return None
    rule = ", ".join(
        f"{key} = {record[key]}"
        for key in ("min_iv", "top_k", "max_bin")
        if record.get(key) is not None
    )
    binning = [
        f"{key} = {record[key]}"
        for key in ("min_bin_rows", "adjustment_factor")
        if record.get(key) is not None
    ]
    defaulted = given is not None and given.get("min_bin_rows") is None
    if binning and defaulted and "min_bin_rows" in record:
        binning[0] += " (default)"  # max(5, 0.5% of the rows), as the run computed it
    caption = ", ".join(binning)
    rows = [c for c in columns if isinstance(c, dict) and isinstance(c.get("iv"), (int, float))]
    selected = any("kept" in c for c in rows)
    title = "selection by IV" if selected else "information value"
    heading = f"{title} ({rule})" if rule else title
    table = Table(
        title=heading,
        title_justify="left",
        caption=caption or None,
        caption_justify="left",
        expand=False,
        min_width=len(caption),  # the binning settings in effect read on one line
    )
    table.add_column("party")
    table.add_column("column")
    table.add_column("IV", justify="right")
    if selected:
        table.add_column("kept")
    for column in sorted(rows, key=lambda c: -float(c["iv"])):
        # the parties' own names, never read as markup (`amount[usd]`, `x[/]`)
        cells: list[Text | str] = [
            Text(str(column.get("party"))),
            Text(str(column.get("name"))),
            f"{float(column['iv']):.4f}",
        ]
        if selected:
            cells.append("yes" if column.get("kept") else "dropped")
        table.add_row(*cells)
    return table
