"""A prediction tournament in the run store: scores as contributions, payouts in the ledger.

A tournament is recorded as a run of kind ``"tournament"``. Each resolved round adds, per
participant, its combined score (contribution method ``"tournament_score"``) and one ledger
line per payout (kind ``"payout"``, or ``"burn"`` for a negative one). Stakes, mean CORR and
MMC and the per-era scores go into the run's summary (:func:`tournament_summary`), so a
dashboard can draw them without the tournament's state file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rengo.rewards import currency_decimals, format_amount
from rengo.tournament import RoundResult
from rengo.tracking.records import PAYMENT_KINDS, LedgerLine
from rengo.tracking.store import RunStore

SCORE_METHOD = "tournament_score"
"""Contribution method of a participant's combined (paid-on) score in one round."""

RUN_KIND = "tournament"
"""The run kind a tournament is recorded under (``rengo.tracking.TOURNAMENT_RUN_KIND``)."""


def record_tournament_round(
    store: RunStore, run_id: str, result: RoundResult, currency: str, decimals: int | None = None
) -> int:
    """Log one resolved round's scores and payouts under ``run_id``; returns ledger lines.

    The round's ledger lines are one transaction: all of them or, if the command is stopped
    partway, none, so an interrupted ``tournament pay`` never leaves a round half paid (its
    rerun used to pay the lines already written a second time). A round the ledger already
    pays is refused, nothing written. Reasons name each stake in major units of ``currency``
    and the round's CORR, MMC and combined score the payout was computed from.

    Parameters
    ----------
    store:
        The run store.
    run_id:
        The tournament's run (full id).
    result:
        The resolved round.
    currency:
        The currency of the payouts.
    decimals:
        Overrides the currency's number of decimals in the reasons.

    Returns
    -------
    int
        The number of ledger lines written.

    Raises
    ------
    ConfigError
        The run's ledger already pays this round.
    """
    logged = {  # a pay stopped after the scores, before the ledger: its rerun logs no twin
        c.participant
        for c in store.contributions(run_id)
        if c.method == SCORE_METHOD and c.round == result.round
    }
    for name, score in sorted(result.scores.items()):
        if name not in logged:
            store.log_contribution(run_id, result.round, name, SCORE_METHOD, score.score)
    lines: list[LedgerLine] = []
    for payout in result.payouts:
        kind = "burn" if payout.amount_minor < 0 else "payout"
        scored = result.scores.get(payout.participant)
        reason = payout.reason
        if scored is not None:  # what the amount comes from, for the participant paid it
            stake = format_amount(scored.stake_minor, currency, decimals)
            reason = (
                f"round {result.round}, stake {stake}, CORR {scored.corr:+.4f}, MMC "
                f"{scored.mmc:+.4f}, score {scored.score:+.4f}: {payout.reason}"
            )
        lines.append(
            LedgerLine(
                result.round,
                payout.participant,
                kind,
                payout.amount_minor,
                reason,
                currency,
                currency_decimals(currency, decimals),
            )
        )
    return len(store.append_ledger_lines(run_id, lines, once=PAYMENT_KINDS))


def ledger_paid_rounds(store: RunStore, run_id: str) -> set[int | None]:
    """The rounds of a run its ledger already pays (a line of a
    :data:`~rengo.tracking.records.PAYMENT_KINDS` kind; None: a whole-run payment), so an
    interrupted payment's rerun writes only what is missing.

    Parameters
    ----------
    store:
        The run store.
    run_id:
        The run's id or a unique prefix of it.

    Returns
    -------
    set[int | None]
        The paid rounds, None among them when a line pays the whole run.
    """
    return {e.round for e in store.ledger(run_id) if e.kind in PAYMENT_KINDS}


def tournament_summary(
    results: Iterable[RoundResult],
    paid_rounds: Iterable[int],
    currency: str,
    decimals: int,
    *,
    unpaid: bool = False,
) -> dict[str, Any]:
    """The run summary of a tournament: paid rounds, the currency's decimals, and every
    paid round's (with ``unpaid``, every scored round's) per-era CORR and MMC and stake per
    participant, each round marked ``paid`` or not.

    Pass it to :meth:`RunStore.finish_run <rengo.tracking.RunStore.finish_run>` so a dashboard
    draws stakes and scores without the tournament's state file.

    Parameters
    ----------
    results:
        The resolved rounds (:class:`rengo.tournament.RoundResult`), in any order.
    paid_rounds:
        The rounds whose payouts the ledger holds; only these are summarised unless
        ``unpaid``.
    currency:
        The currency code the stakes are in.
    decimals:
        The currency's minor-unit digits (:func:`rengo.rewards.currency_decimals`).
    unpaid:
        Summarise the rounds scored but not paid yet too, so that a dashboard's leaderboard
        averages the rounds ``rengo tournament leaderboard`` averages (every scored round)
        while its payouts count the paid ones.

    Returns
    -------
    dict
        ``{"paid_rounds", "currency", "decimals", "rounds"}``, JSON-serialisable.
    """
    paid = sorted({int(r) for r in paid_rounds})
    rounds = [
        {
            "round": r.round,
            "paid": r.round in paid,
            "scores": {
                name: {
                    "stake_minor": s.stake_minor,
                    "corr": s.corr,
                    "mmc": s.mmc,
                    "score": s.score,
                    "eras": [{"era": e.era, "corr": e.corr, "mmc": e.mmc} for e in s.eras],
                }
                for name, s in sorted(r.scores.items())
            },
        }
        for r in results
        if unpaid or r.round in paid
    ]
    return {"paid_rounds": paid, "currency": currency, "decimals": decimals, "rounds": rounds}
