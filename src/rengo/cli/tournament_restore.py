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

_ROUND_KINDS = frozenset({"payout", "burn"})
"""The ledger kinds ``rengo tournament pay`` writes for a round."""

_WHAT_TO_DO = (
    "restore the state file and its .arrays folder and the run store from the same backup "
    "(or the newer of each); nothing was changed"
)


def refuse_out_of_step(state: dict[str, Any], state_path: Path, store_path: Path) -> list[str]:
    """Refuse a tournament whose state file and run store were restored from different times.

    Parameters
    ----------
    state:
        The loaded state (:func:`rengo.cli.tournament_state.load_state`).
    state_path:
        Its file, named in the message.
    store_path:
        The tournament's run store (the one the state remembers); opened read-only.

    Returns
    -------
    list[str]
        Warnings to show that do not stop the command: a round the ledger pays more than
        once (two payments wrote it, as releases before the ``once`` check could; the
        ledger is append-only, so refusing would stop the tournament for good).

    Raises
    ------
    ConfigError
        The store is missing or does not hold the tournament's run; the ledger pays a round
        the state holds open, cancelled or does not know, or pays a scored round other
        amounts than the state's scores give; the store recorded a round scored that the
        state holds open or does not know (the state is older than the store); or the state
        says rounds are paid that the ledger holds no line for (the store is older); or
        ``runs.db.payments`` beside the store records a round of the run paid that neither
        the ledger nor the state knows (both restored from before that payment), or cannot
        be read.
    """
    from rengo.tournament import Tournament
    from rengo.tracking import RunStore, UnknownRunError
    from rengo.tracking.store import PAYMENTS_SUFFIX

    run_id = state.get("run_id")
    if not run_id:
        return []  # no command recorded the tournament yet: nothing to compare
    if not store_path.exists():
        raise ConfigError(
            f"the tournament state {state_path} is recorded in the run store {store_path} "
            f"(run {run_id}), which is missing: restore the store from the backup taken with "
            "this state (with its runs.db-wal, if the backup has one), or, if it was moved "
            "or restored into another folder, pass --store with its path now (a command that "
            "records - open, score, cancel, pay - saves it in the state; until one has, pass "
            "it to leaderboard and submit too); nothing was written"
        )
    with RunStore(store_path, read_only=True) as store:  # the leaderboard only reads it
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
        witnessed = store.witnessed_payments(info.run_id)
    tournament = Tournament.from_dict(state["tournament"])
    results = {r.round: r for r in tournament.results()}
    open_ids = set(tournament.open_round_ids())
    cancelled = set(tournament.cancelled_rounds())
    state_paid = {int(r) for r in state.get("paid_rounds", ())}
    # the lines tournament pay writes, every one kept (a round paid twice has two per
    # participant); other kinds (a "reward" appended by hand) are not the round's payment
    paid_lines: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for line in ledger:
        if line.kind in _ROUND_KINDS and line.round is not None:
            paid_lines[line.round][line.participant].append(int(line.amount))
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
    notes: list[str] = []
    for number, lines in sorted(paid_lines.items()):
        twice = sorted(who for who, amounts in lines.items() if len(amounts) > 1)
        if twice:
            notes.append(
                f"the run store {store_path}'s ledger pays round {number} more than once "
                f"({', '.join(f'{who}: {lines[who]}' for who in twice)}): two payments wrote "
                "it (not a restore); the ledger is append-only, so settle the extra payment "
                "outside rengo; the leaderboard counts the round once"
            )
        pays = {who: amounts[0] for who, amounts in lines.items()}
        due = {p.participant: p.amount_minor for p in results[number].payouts}
        if pays != due:
            raise ConfigError(
                f"the run store {store_path}'s ledger pays round {number} other amounts than "
                f"the tournament state {state_path} scored it for (ledger {pays}, "
                f"state {due}): the state was restored from a backup taken before the round "
                f"was scored the way it was paid; {_WHAT_TO_DO}"
            )
    forgotten = sorted(
        r for r in witnessed if r is not None and r not in paid_lines and r not in state_paid
    )
    if forgotten:
        raise ConfigError(
            f"the tournament's run {run_id} paid round(s) {forgotten} (at "
            f"{', '.join(witnessed[r] for r in forgotten)}, recorded in "
            f"{store_path}{PAYMENTS_SUFFIX}), but its run store {store_path} and its state "
            f"{state_path} know of no such payment: both were restored from a backup taken "
            "before it, and opening, scoring and paying that round number again would pay it "
            "twice; restore the state file, its .arrays folder and the run store from a "
            f"backup taken after that payment (keep {store_path.name}{PAYMENTS_SUFFIX}), or, "
            "if none is left, go on with a new tournament (another --state file: a new run, "
            "whose rounds the record does not hold); nothing was written"
        )
    lost = sorted(state_paid - set(paid_lines))
    if lost:
        raise ConfigError(
            f"the tournament state {state_path} says round(s) {lost} were paid, but the run "
            f"store {store_path} holds no ledger line for them: the store is older than the "
            "state (restored from a backup taken before they were paid?), and paying or "
            f"ranking from it would lose those payments' record; {_WHAT_TO_DO}"
        )
    return notes
