"""Who could take part in a deployed run, and when that changed: the table ``rengo runs show``
gives an operator auditing a federation run for weeks (members admitted or taken out when
it resumed, certificates revoked while it ran)."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from rengo.tracking.party_changes import recorded_party_changes
from rengo.tracking.records import RunInfo
from rengo.tracking.revoked_parties import recorded_revocations
from rengo.tracking.store import RunStore


def membership_rows(store: RunStore, run: RunInfo) -> list[tuple[datetime, str, str]]:
    """Each change of who takes part in ``run``, oldest first, as (when, round, what): the
    party changes its resumes recorded, and each revoked certificate its hub refused or dropped
    (:meth:`~rengo.tracking.RunStore.record_revocation`).

    Parameters
    ----------
    store, run
        The store and the run.

    Returns
    -------
    list[tuple[datetime, str, str]]
        When (UTC), the round it took effect after (``"after N"``), and what
        changed; none for a run whose members never changed.
    """
    rows = [
        (datetime.fromisoformat(c.at), f"after {c.after_round}", c.describe().split(": ", 1)[1])
        for c in recorded_party_changes(run.config)
    ]
    rows += [  # the hub's structured records, never event text (a party's words reach that)
        (datetime.fromisoformat(r.at), f"after {r.after_round}", r.describe())
        for r in recorded_revocations(run.config)
    ]
    return sorted(rows, key=lambda row: row[0])


def membership_table(store: RunStore, run: RunInfo) -> Table | None:
    """:func:`membership_rows` as a table titled "parties"; None when there are none."""
    rows = membership_rows(store, run)
    if not rows:
        return None
    table = Table(title="parties", title_justify="left")
    for column in ("when", "round", "change"):
        table.add_column(column, overflow="fold")
    for when, round_, what in rows:
        table.add_row(when.astimezone().isoformat(sep=" ", timespec="seconds"), round_, what)
    return table
