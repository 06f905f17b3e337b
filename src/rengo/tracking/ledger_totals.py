"""What each participant was paid over many runs: the ledger's lines added up exactly.

Each ledger line holds whole minor units counted in its own decimals (a run paid with
``--decimals 4`` beside others paid in cents). Lines of one currency are added at the most
decimals any of them has, each scaled up by a power of ten, so a total is exact - no float
ever holds an amount - and equals the sum of the payouts each run shows.

Participants are added by the name each line records: a party renamed between runs shows
under both names, and one expelled keeps what it was paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from rengo.rewards.money import currency_decimals

if TYPE_CHECKING:
    from rengo.tracking.records import LedgerEntry
    from rengo.tracking.store import RunStore


@dataclass(frozen=True)
class PayoutTotal:
    """One participant's net amount in one currency over the runs added.

    Attributes
    ----------
    participant, currency
        As the ledger lines name them.
    amount_minor
        The net amount in minor units counted in ``decimals``.
    decimals
        The most decimals any added line of this currency had.
    runs
        The run ids it has lines in, in the order they were added.
    lines
        How many ledger lines were added.
    """

    participant: str
    currency: str
    amount_minor: int
    decimals: int
    runs: tuple[str, ...]
    lines: int


@dataclass
class _Sum:
    """A running sum of minor units at several scales (decimals -> minor units)."""

    by_scale: dict[int, int] = field(default_factory=dict)
    runs: dict[str, None] = field(default_factory=dict)
    lines: int = 0

    def add(self, run_id: str, minor: int, places: int) -> None:
        self.by_scale[places] = self.by_scale.get(places, 0) + minor
        self.runs[run_id] = None
        self.lines += 1


def _minor_and_places(entry: LedgerEntry, decimals: int | None) -> tuple[int, int] | None:
    """A line's amount as (minor units, decimals); None for text that is no number."""
    if isinstance(entry.amount, int):
        places = entry.decimals if entry.decimals is not None else decimals
        return entry.amount, currency_decimals(entry.currency, places)
    try:  # a line written as decimal text, before amounts were minor units
        value = Decimal(entry.amount.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    exponent = value.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    return int(value.scaleb(places)), places


@dataclass(frozen=True)
class PayoutTotals:
    """Every participant's totals over the runs added (:func:`payout_totals`).

    Attributes
    ----------
    totals
        One per participant and currency, by participant then currency.
    runs
        The runs added that hold ledger lines.
    unreadable
        Lines left out: an amount written as text that is no number.
    """

    totals: list[PayoutTotal]
    runs: list[str]
    unreadable: int = 0

    def currency_sums(self) -> list[tuple[str, int, int]]:
        """Per currency: (currency, minor units, decimals) over every participant."""
        by_currency: dict[str, dict[int, int]] = {}
        for t in self.totals:
            scales = by_currency.setdefault(t.currency, {})
            scales[t.decimals] = scales.get(t.decimals, 0) + t.amount_minor
        return [(c, *_at_one_scale(scales)) for c, scales in sorted(by_currency.items())]


def _at_one_scale(by_scale: dict[int, int]) -> tuple[int, int]:
    """Minor units at several scales as one amount at the finest: (minor, decimals)."""
    places = max(by_scale)
    return sum(minor * 10 ** (places - p) for p, minor in by_scale.items()), places


def add_payouts(
    ledgers: Iterable[tuple[str, Sequence[LedgerEntry]]], decimals: int | None = None
) -> PayoutTotals:
    """Add up ledger lines per participant and currency, exactly.

    Parameters
    ----------
    ledgers
        (run id, that run's ledger lines) pairs.
    decimals
        The decimals of lines that recorded none (written before rengo recorded them);
        None: the currency's ISO 4217 exponent, else 2.

    Returns
    -------
    PayoutTotals
        The totals, the runs that had lines, and how many lines could not be read.
    """
    sums: dict[tuple[str, str], _Sum] = {}
    runs: list[str] = []
    unreadable = 0
    for run_id, entries in ledgers:
        if entries:
            runs.append(run_id)
        for e in entries:
            amount = _minor_and_places(e, decimals)
            if amount is None:
                unreadable += 1
                continue
            sums.setdefault((e.participant, e.currency), _Sum()).add(run_id, *amount)
    totals = [
        PayoutTotal(who, currency, *_at_one_scale(s.by_scale), tuple(s.runs), s.lines)
        for (who, currency), s in sorted(sums.items())
    ]
    return PayoutTotals(totals, runs, unreadable)


def payout_totals(
    store: RunStore, run_ids: Sequence[str], decimals: int | None = None
) -> PayoutTotals:
    """Each participant's net payouts over the runs ``run_ids`` (full ids or prefixes).

    Parameters
    ----------
    store
        The run store.
    run_ids
        The runs to add up (a run without ledger lines adds nothing).
    decimals
        As :func:`add_payouts`'s.

    Returns
    -------
    PayoutTotals
        See :func:`add_payouts`.

    Raises
    ------
    UnknownRunError, AmbiguousRunError
        If an id matches no run, or several.
    """
    full = [store.resolve_run_id(run_id) for run_id in dict.fromkeys(run_ids)]
    return add_payouts(((run_id, store.ledger(run_id)) for run_id in full), decimals)
