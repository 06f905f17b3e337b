"""Does a tournament's state file agree with its run store? A check for restored backups.

A tournament lives in two places: its state file (``tournament.json`` and its ``.arrays``
folder: rounds, submissions, scores, which rounds are paid) and its run in the store (the
ledger lines that pay each round, and the summary of the rounds scored). An operator who
restores one of them from an older backup than the other puts them out of step, and before
this check every command went on without a word:

- the state older than the store: ``open`` published a round under a number the ledger had
  already paid, ``score`` scored it again on other data, and ``pay`` marked it paid
  ("an interrupted pay wrote them"), so the new round's payouts were never recorded and the
  state's scores were not the ones paid;
- the store older than the state: the state said rounds were paid that the ledger no longer
  held, ``pay`` answered "nothing to pay" and the leaderboard counted payments no ledger
  line records.

:func:`refuse_out_of_step` compares them before any tournament command reads or changes
either, and refuses with what differs and what to restore.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from rengo.core.errors import ConfigError

_WHAT_TO_DO = (
    "restore the state file and its .arrays folder and the run store from the same backup "
    "(or the newer of each); nothing was changed"
)


def _rounds(rounds: object) -> list[int]:
    return sorted({int(r) for r in rounds})  # type: ignore[attr-defined]


def refuse_out_of_step(state: dict[str, Any], state_path: Path, store_path: Path) -> None:
    """Refuse a tournament whose state file and run store were restored from different times.

    Parameters
    ----------
    state:
        The loaded state (:func:`rengo.cli.tournament_state.load_state`).
    state_path:
        Its file, named in the message.
    store_path:
        The tournament's run store (the one the state remembers).

    Raises
    ------
    ConfigError
        The store is missing or does not hold the tournament's run; the ledger pays a round
        the state holds open, cancelled or does not know, or pays a scored round other
        amounts than the state's scores give; the store recorded a round scored that the
        state holds open or does not know (the state is older than the store); or the state
        says rounds are paid that the ledger holds no line for (the store is older).
    """
    from rengo.tournament import Tournament
    from rengo.tracking import RunStore, UnknownRunError
    from rengo.tracking.records import PAYMENT_KINDS

    run_id = state.get("run_id")
    if not run_id:
        return  # no command recorded the tournament yet: nothing to compare
    if not store_path.exists():
        raise ConfigError(
            f"the tournament state {state_path} is recorded in the run store {store_path} "
            f"(run {run_id}), which is missing: restore the store from the backup taken with "
            "this state (with its runs.db-wal, if the backup has one), or, if it was moved "
            "or restored into another folder, pass --store with its path now (the state then "
            "remembers it); nothing was written"
        )
    with RunStore(store_path) as store:
        try:
            info = store.get_run(str(run_id))
        except UnknownRunError as e:
            raise ConfigError(
                f"the run store {store_path} holds no run {run_id}, which the tournament "
                f"state {state_path} is recorded in: the store was restored from a backup "
                "older than the tournament, or is another store; restore the store taken "
                "with this state; nothing was written"
            ) from e
        ledger = store.ledger(info.run_id)
    tournament = Tournament.from_dict(state["tournament"])
    results = {r.round: r for r in tournament.results()}
    open_ids = set(tournament.open_round_ids())
    cancelled = set(tournament.cancelled_rounds())
    state_paid = {int(r) for r in state.get("paid_rounds", ())}
    paid_lines: dict[int, dict[str, int | str]] = defaultdict(dict)
    for line in ledger:
        if line.kind in PAYMENT_KINDS and line.round is not None:
            paid_lines[line.round][line.participant] = line.amount
    summary = info.summary or {}
    store_scored = {int(r["round"]) for r in summary.get("rounds", ()) if "round" in r}

    def where(number: int) -> str:
        if number in open_ids:
            return "open"
        if number in cancelled:
            return "cancelled"
        return "not in it"

    behind = sorted(r for r in set(paid_lines) | store_scored if r not in results)
    if behind:
        paid = [r for r in behind if r in paid_lines]
        said = ", ".join(f"round {r}: {where(r)}" for r in behind)
        raise ConfigError(
            f"the tournament state {state_path} is older than its run store {store_path}: "
            f"the store has round(s) {behind} scored"
            + (f" and the ledger pays {paid}" if paid else "")
            + f", which the state has not scored ({said}; a backup of the state restored over a "
            "newer one?): going on would score those rounds again, on other data, or open "
            f"new rounds under numbers already paid; {_WHAT_TO_DO}"
        )
    for number, lines in sorted(paid_lines.items()):
        due = {p.participant: p.amount_minor for p in results[number].payouts}
        if lines != due:
            raise ConfigError(
                f"the run store {store_path}'s ledger pays round {number} other amounts than "
                f"the tournament state {state_path} scored it for (ledger {dict(lines)}, "
                f"state {due}): the state was restored from a backup taken before the round "
                f"was scored the way it was paid; {_WHAT_TO_DO}"
            )
    lost = sorted(state_paid - set(paid_lines))
    if lost:
        raise ConfigError(
            f"the tournament state {state_path} says round(s) {lost} were paid, but the run "
            f"store {store_path} holds no ledger line for them: the store is older than the "
            "state (restored from a backup taken before they were paid?), and paying or "
            f"ranking from it would lose those payments' record; {_WHAT_TO_DO}"
        )
