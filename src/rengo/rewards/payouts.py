"""Reward policies: turn scores or contributions into integer payouts in currency minor units.

Money never touches binary floats: inputs are converted to exact :class:`~fractions.Fraction`
(floats through their shortest decimal ``repr``, so 0.05 means exactly 5/100), amounts are
``int`` minor units (cents, satoshis...), and pools are split by the largest-remainder
(Hamilton) method so that the amounts sum exactly to what is paid. Positive totals never
exceed the budget; negative amounts are burns taken from a participant's stake.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from rengo.core.errors import ConfigError

Exact = int | float | Decimal | Fraction | str


@dataclass(frozen=True)
class Payout:
    """``amount_minor`` > 0 is paid to ``participant``; < 0 is burned from its stake."""

    participant: str
    amount_minor: int
    reason: str

    def as_dict(self) -> dict[str, object]:
        """Plain types only, for the run store."""
        return {
            "participant": self.participant,
            "amount_minor": self.amount_minor,
            "reason": self.reason,
        }


def exact(value: Exact) -> Fraction:
    """``value`` as an exact fraction; floats through ``repr`` (0.1 is 1/10, not 0x1.999ap-4).

    Parameters
    ----------
    value:
        An int, float, Decimal, Fraction or decimal text (``"0.05"``, ``"1/20"``).

    Returns
    -------
    Fraction
        The exact value.

    Raises
    ------
    ConfigError
        A boolean, a non-finite number, or text that is not a finite number (a CLI option
        such as ``--clip abc`` then reads as one line, not a traceback).
    """
    if isinstance(value, bool):
        raise ConfigError("a boolean is not an amount")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"amount {value} is not finite")
        return Fraction(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise ConfigError(f"amount {value} is not finite")
    try:
        return Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError):
        raise ConfigError(f"{value!r} is not a finite number") from None


def _parameter(name: str, value: Exact) -> Fraction:
    """A policy parameter exactly, or a ConfigError that names it."""
    try:
        return exact(value)
    except ConfigError as exc:
        raise ConfigError(f"{name} must be a finite number, got {value!r}") from exc


def _score(participant: str, value: object) -> Fraction:
    """A participant's score or contribution, exactly (through its float, as recorded)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"the value of {participant!r} is not a number: {value!r}") from None
    if not math.isfinite(number):  # exact() would name an "amount", not the participant
        raise ConfigError(f"the value of {participant!r} is not finite: {number}")
    return exact(number)


def _check_minor(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a non-negative int of minor units, got {value!r}")


def largest_remainder(
    total_minor: int,
    weights: Sequence[Exact],
    caps: Sequence[int] | None = None,
    *,
    tie_start: int = 0,
) -> list[int]:
    """Split ``total_minor`` in proportion to non-negative ``weights`` (Hamilton's method).

    Each share is the floor of its exact quota; the units left go one at a time to the
    largest remainders (ties: from index ``tie_start`` on, cyclically; by default lower
    index first). With ``caps``, no share exceeds its cap; the sum is ``total_minor``
    exactly unless the caps together are smaller. All zero weights give all zero shares.

    Parameters
    ----------
    total_minor:
        What to split, in minor units (an int >= 0).
    weights:
        One non-negative weight per share (ints, decimal strings, Decimals, Fractions or
        floats, each taken exactly).
    caps:
        Optional upper bound of each share (ints >= 0).
    tie_start:
        Where equal remainders start being served (taken modulo the number of weights):
        a series of splits (a run paid round by round) that advances it each time hands a
        unit left over among tied shares to each in turn, not always to the first.

    Returns
    -------
    list[int]
        The shares, in the order of ``weights``.

    Raises
    ------
    ConfigError
        A negative total, weight or cap, or a number of caps other than of weights.
    """
    _check_minor("total_minor", total_minor)
    w = [exact(x) for x in weights]
    if any(x < 0 for x in w):
        raise ConfigError("largest_remainder weights must be >= 0")
    if caps is not None and len(caps) != len(w):
        raise ConfigError(f"{len(caps)} caps for {len(w)} weights")
    for cap in caps or ():  # a negative cap would hand out a negative share
        _check_minor("a cap", cap)
    limit = list(caps) if caps is not None else [total_minor] * len(w)
    denominator = sum(w, Fraction(0))
    if denominator == 0:
        return [0] * len(w)
    quotas = [total_minor * x / denominator for x in w]
    shares = [min(math.floor(q), c) for q, c in zip(quotas, limit, strict=True)]
    left = total_minor - sum(shares)
    start = tie_start % len(w)
    order = sorted(
        range(len(w)),
        key=lambda i: (-(quotas[i] - math.floor(quotas[i])), (i - start) % len(w)),
    )
    while left > 0:
        progressed = False
        for i in order:
            if left == 0:
                break
            if w[i] > 0 and shares[i] < limit[i]:
                shares[i] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return shares


def proportional_payouts(
    contributions: Mapping[str, float],
    pool_minor: int,
    *,
    label: str = "Shapley",
    tie_start: int = 0,
) -> list[Payout]:
    """Pay ``pool_minor`` as R * max(phi_i, 0) / sum_j max(phi_j, 0): negative or null
    contributors get 0; if nobody contributed positively, nothing is paid.

    Parameters
    ----------
    contributions:
        Participant -> contribution (e.g. a Shapley value).
    pool_minor:
        The pool in minor units, paid in full unless nobody contributed positively.
    label:
        What the contributions are, for each payout's reason.
    tie_start:
        Which participant (by position in name order) a unit left over among tied
        remainders goes to first (:func:`largest_remainder`).

    Returns
    -------
    list[Payout]
        One per participant, sorted by name, summing exactly to the pool (all zero when
        nobody contributed positively); each reason gives the contribution and its share of
        the pool (amounts are the ledger's business, in the pool's currency).

    Raises
    ------
    ConfigError
        A negative pool, or a contribution that is not a finite number.
    """
    _check_minor("pool_minor", pool_minor)
    names = sorted(contributions)
    clipped = [max(_score(p, contributions[p]), Fraction(0)) for p in names]
    shares = largest_remainder(pool_minor, clipped, tie_start=tie_start)
    positive = sum(clipped)
    return [
        Payout(
            p,
            s,
            f"{label} {float(contributions[p]):.6g}: "
            f"{float(c / positive) if positive else 0.0:.2%} of the pool",
        )
        for p, s, c in zip(names, shares, clipped, strict=True)
    ]


def equal_share_payouts(
    participants: Sequence[str], pool_minor: int, *, tie_start: int = 0
) -> list[Payout]:
    """Split ``pool_minor`` equally; the indivisible remainder goes to the first names (from
    position ``tie_start`` in name order on, cyclically).

    Parameters
    ----------
    participants:
        Distinct names.
    pool_minor:
        The pool in minor units.
    tie_start:
        The position, in name order, of the first name the remainder goes to.

    Returns
    -------
    list[Payout]
        One per participant, sorted by name, summing exactly to the pool.

    Raises
    ------
    ConfigError
        A negative pool, a repeated name, or a pool but nobody to pay it to.
    """
    _check_minor("pool_minor", pool_minor)
    names = sorted(set(participants))
    if len(names) != len(participants):
        raise ConfigError("equal_share_payouts: duplicate participants")
    if not names and pool_minor:
        raise ConfigError(f"equal_share_payouts: no participants to share a pool of {pool_minor}")
    shares = largest_remainder(pool_minor, [1] * len(names), tie_start=tie_start)
    return [
        Payout(p, s, f"equal share: 1/{len(names)} of the pool")
        for p, s in zip(names, shares, strict=True)
    ]


def stake_clipped_payouts(
    scores: Mapping[str, float],
    stakes_minor: Mapping[str, int],
    budget_minor: int,
    *,
    factor: Exact = 1,
    clip: Exact = Fraction(5, 100),
    cap_name: str = "the budget",
) -> list[Payout]:
    """Numerai-style staking: payout_i = stake_i * clip(factor * score_i, -c, c).

    Losses are burns of at most c of the stake (rounded toward zero); gains are rounded
    down, and if they would exceed ``budget_minor`` they are scaled down to fill exactly the
    budget by largest remainder, none above its unscaled gain. A gain paid less than its
    stake x rate says so in its reason, with its own figures, so a participant's ledger
    line explains its amount: ``scaled to fit the budget: the gains due exceed it, this
    gain is paid 40.00 % of what it was due``; ``not paid: ... its last minor units went to
    larger remainders`` where the cap ran out before it (two minor units among three gains
    of 0.50 pay 0.01, 0.01 and 0.00: one shared figure told the third it was paid 1.33 %);
    ``not paid: the budget is spent`` where the cap is 0. ``cap_name`` says what
    ``budget_minor`` is, so a caller whose cap is not the whole budget (a round's share
    of it) never has a line blame "the budget".

    Parameters
    ----------
    scores:
        Participant -> score (e.g. a tournament round's combined CORR/MMC score).
    stakes_minor:
        Participant -> stake in minor units; every scored participant needs one.
    budget_minor:
        The most that may be paid out in total.
    factor, clip:
        The payout factor (>= 0) and the clip ``c``, a fraction of the stake in [0, 1] so
        that a burn never exceeds the stake; both taken exactly.
    cap_name:
        What ``budget_minor`` is, as the reasons of cut gains name it (e.g. "round 1's
        share of the budget, 40.00 credits"); not blank.

    Returns
    -------
    list[Payout]
        One per scored participant, sorted by name; negative amounts are burns; each
        reason gives the clipped rate, and the cap's cut of this gain where it cut it.

    Raises
    ------
    ConfigError
        A negative budget, stake or factor, a clip outside [0, 1], a factor, clip or score
        that is not a finite number, a participant without a stake, or a blank
        ``cap_name``.
    """
    if not isinstance(cap_name, str) or not cap_name.strip():
        raise ConfigError(f"cap_name names what the budget_minor is, got {cap_name!r}")
    _check_minor("budget_minor", budget_minor)
    c = _parameter("clip", clip)
    if not 0 <= c <= 1:  # as PayoutRule's: a larger clip would burn more than the stake
        raise ConfigError(f"clip is a fraction of the stake in [0, 1], got {clip}")
    f = _parameter("factor", factor)
    if f < 0:
        raise ConfigError(f"the payout factor must be >= 0, got {factor}")
    names = sorted(scores)
    missing = [p for p in names if p not in stakes_minor]
    if missing:
        raise ConfigError(f"no stake for {missing}")
    rates: list[Fraction] = []
    for p in names:
        _check_minor(f"stake of {p!r}", stakes_minor[p])
        rates.append(min(max(f * _score(p, scores[p]), -c), c))
    raw = [stakes_minor[p] * r for p, r in zip(names, rates, strict=True)]
    due = [math.floor(x) if x > 0 else 0 for x in raw]
    gains = due
    if sum(due) > budget_minor:
        gains = largest_remainder(budget_minor, [max(x, Fraction(0)) for x in raw], caps=due)
    out = []
    for p, rate, x, gain, owed in zip(names, rates, raw, gains, due, strict=True):
        amount = gain if x > 0 else -math.floor(-x)
        reason = f"stake x clip({float(rate):+.6g}, ±{float(c)})"
        if gain < owed:  # the ledger line says why it is less than its stake x rate
            reason += _budget_cut(cap_name, budget_minor, gain, owed)
        out.append(Payout(p, amount, reason))
    return out


def _budget_cut(cap_name: str, budget_minor: int, gain: int, owed: int) -> str:
    """What the reason of a gain paid ``gain`` of the ``owed`` minor units it was due adds,
    when the gains due exceed the cap (``budget_minor``, named ``cap_name``): this line's
    own share of what it was due, never one shared figure (largest remainder pays whole
    minor units, so where little is left the lines' shares differ a lot)."""
    if budget_minor == 0:
        return f", not paid: {cap_name} is spent"
    if gain == 0:
        return (
            f", not paid: the gains due exceed {cap_name}, and its last minor units went to "
            "larger remainders (ties: in name order)"
        )
    share = math.floor(Fraction(gain, owed) * 10_000)  # hundredths of a %, never 100 %
    shown = f"{share / 100:.2f} %" if share else "under 0.01 %"
    return (
        f", scaled to fit {cap_name}: the gains due exceed it, this gain is paid {shown} of "
        "what it was due"
    )


class Budget:
    """A reward budget that is never exceeded across rounds: :meth:`charge` refuses a set of
    payouts whose positive total is more than what is left.

    Parameters
    ----------
    total_minor:
        The whole budget in minor units.

    Raises
    ------
    ConfigError
        ``total_minor`` is not an int >= 0.
    """

    def __init__(self, total_minor: int) -> None:
        _check_minor("total_minor", total_minor)
        self.total_minor = total_minor
        self.paid_minor = 0
        self.burned_minor = 0

    @property
    def remaining_minor(self) -> int:
        """What may still be paid out."""
        return self.total_minor - self.paid_minor

    def charge(self, payouts: Sequence[Payout]) -> None:
        """Record ``payouts``; raise :class:`ConfigError` (recording nothing) if they overspend."""
        paid = sum(p.amount_minor for p in payouts if p.amount_minor > 0)
        if paid > self.remaining_minor:
            raise ConfigError(
                f"payouts of {paid} exceed the remaining budget {self.remaining_minor}"
            )
        self.paid_minor += paid
        self.burned_minor += -sum(p.amount_minor for p in payouts if p.amount_minor < 0)

    def as_dict(self) -> dict[str, int]:
        """Plain types only, for the run store."""
        return {
            "total_minor": self.total_minor,
            "paid_minor": self.paid_minor,
            "burned_minor": self.burned_minor,
        }
