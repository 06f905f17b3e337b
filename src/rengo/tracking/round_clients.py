"""One round's clients, as the run store recorded them: who was sampled to train and to
evaluate, who replied, and why each of the others failed (``rengo runs show RUN --round K``).

The run's own tables count a round's clients and failures and sum each client's rounds; a
researcher asking which clients a round sampled, and which of them dropped out, reads it
here, one line per client and phase, from the same records the dashboard's participation
matrix shows.
"""

from __future__ import annotations

import re

from rich.table import Table

from rengo.core.client_record import ClientRecord
from rengo.core.errors import ConfigError
from rengo.tracking.skipped_rounds import skipped_rounds
from rengo.tracking.store import RunStore

_DIGITS = re.compile(r"(\d+)")


def _natural(client_id: str) -> tuple[object, ...]:
    """``client-9`` before ``client-10``: ids in the order they were numbered."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(client_id))


def _phase_line(records: list[ClientRecord], phase: str) -> str:
    """``25 sampled to train: 19 replied, 6 failed`` for one phase's records."""
    failed = sum(1 for r in records if r.status != "ok")
    verb = "train" if phase == "fit" else phase
    return f"{len(records)} sampled to {verb}: {len(records) - failed} replied, {failed} failed"


def _no_clients(store: RunStore, run_id: str, server_round: int) -> str:
    """Why round ``server_round`` has no client to list: a vertical run records none (it
    said "recorded no client in round 1; it recorded rounds 1 to 2"), a round recorded
    without clients (a Poisson sample that picked nobody), or a round never recorded."""
    run = store.get_run(run_id)
    if run.kind.startswith("vfl"):
        return (
            f"run {run_id} is a vertical run ({run.kind}): it records no clients per round "
            f"(every party takes part in each epoch); `rengo runs show {run_id}` shows its "
            "rounds"
        )
    rounds = [r.round for r in store.rounds(run_id, metrics=False)]
    held = f"rounds {rounds[0]} to {rounds[-1]}" if rounds else "no round"
    if server_round in rounds:
        return (
            f"run {run_id} recorded round {server_round} with no client in it (a sample "
            f"that picked nobody); it recorded {held}"
        )
    return f"run {run_id} recorded no client in round {server_round}; it recorded {held}"


def round_clients_table(store: RunStore, run_id: str, server_round: int) -> Table:
    """A table of round ``server_round``'s clients: each one's phase (fit before evaluate),
    status, examples, time and, for a client that failed, the reason recorded.

    Parameters
    ----------
    store, run_id
        The store and the run (an id or a unique prefix of one).
    server_round
        The round (1 is the first).

    Returns
    -------
    rich.table.Table
        Titled with the round's counts per phase (and, for a round the run skipped, why:
        who was sampled and dropped, what the round needed).

    Raises
    ------
    ConfigError
        When the run recorded no client in that round: a vertical run (which records no
        clients per round), a round recorded with no client, or one never recorded (naming
        those it did record).
    """
    rid = store.resolve_run_id(run_id)
    records = store.client_records(rid, rounds=[server_round])
    skipped = skipped_rounds(store, rid).get(server_round)
    if not records:
        why = _no_clients(store, rid, server_round)
        raise ConfigError(why if skipped is None else f"{skipped}. {why}")
    phases = sorted({r.phase for r in records}, key=lambda p: (p != "fit", p))
    title = f"round {server_round} of run {rid}: " + "; ".join(
        _phase_line([r for r in records if r.phase == phase], phase) for phase in phases
    )
    if skipped is not None:  # the replies were not aggregated: say so above them
        title += f"\nSKIPPED, nothing of it aggregated: {skipped}"
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("client", "left"),
        ("phase", "left"),
        ("status", "left"),
        ("examples", "right"),
        ("time", "right"),
        ("reason", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    ordered = sorted(records, key=lambda r: (phases.index(r.phase), _natural(r.client_id)))
    for r in ordered:
        table.add_row(
            r.client_id,
            r.phase,
            r.status,
            str(r.num_examples),
            f"{r.duration_s * 1000:.0f}ms" if r.duration_s < 0.1 else f"{r.duration_s:.1f}s",
            r.reason or "",
        )
    return table
