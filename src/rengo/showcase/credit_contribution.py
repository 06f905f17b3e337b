"""What each feature party of the credit-default consortium is worth, and its share of a
budget: the story's data and model, valued with :func:`rengo.valuation.vertical_party_contribution`
(exact Shapley over the bank and the telecom, four retrainings) and paid with
:func:`rengo.rewards.proportional_payouts`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rengo.crypto.dealing import ObfuscatorSource
from rengo.rewards import DEFAULT_CURRENCY, Payout, format_amount, proportional_payouts
from rengo.showcase.credit_default import credit_consortium, fixed_epochs
from rengo.valuation import VerticalContribution, vertical_party_contribution


@dataclass(frozen=True)
class CreditContribution:
    """The credit-default consortium's party contribution and the budget split by it."""

    dataset: str
    customers: int
    contribution: VerticalContribution
    payouts: tuple[Payout, ...]
    budget_minor: int
    currency: str

    def as_dict(self) -> dict[str, Any]:
        """Plain types only, for JSON reports."""
        return {
            "dataset": self.dataset,
            "customers": self.customers,
            "contribution": self.contribution.as_dict(),
            "budget_minor": self.budget_minor,
            "currency": self.currency,
            "payouts": {p.participant: p.amount_minor for p in self.payouts},
        }


def credit_party_contribution(
    small: bool = True,
    *,
    seed: int = 0,
    key_bits: int | None = None,
    epochs: int | None = None,
    metric: str = "auc",
    budget_minor: int = 100_000,
    currency: str = DEFAULT_CURRENCY,
    obfuscators: ObfuscatorSource = "coordinator",
    log: Callable[[str], Any] = print,
    full: bool = False,
) -> CreditContribution:
    """How much the bank's and the telecom's columns add to the card issuer's new-customer
    AUC (exact Shapley, 4 trainings), and ``budget_minor`` split in proportion to it.

    Parameters
    ----------
    small, seed, key_bits, epochs, obfuscators, full:
        As :func:`rengo.showcase.run_credit_default`: the same customers, split and model.
    metric:
        The validation metric the parties are valued on (see
        :func:`rengo.valuation.vertical_party_contribution`).
    budget_minor, currency:
        The reward pool in minor units of ``currency``.
    log:
        Where the progress lines go.

    Returns
    -------
    CreditContribution
        The Shapley values and the payouts.

    Raises
    ------
    ConfigError
        An unknown metric, or a negative budget.
    """
    consortium = credit_consortium(
        small, key_bits=key_bits, epochs=epochs, seed=seed, obfuscators=obfuscators, full=full
    )
    log(
        f"contribution: {consortium.dataset}, {consortium.customers} customers; feature "
        f"parties {', '.join(consortium.train.hosts)}; {consortium.key_bits}-bit keys, "
        f"{consortium.epochs} epochs per retraining"
    )
    with fixed_epochs():
        contribution = vertical_party_contribution(
            consortium.train,
            consortium.validation,
            make_model=consortium.make_model,
            metric=metric,
            seed=seed,
        )
    label = contribution.label_party
    for c in contribution.coalitions:
        who = " + ".join([label, *c.hosts])
        how = "federated" if c.federated else "trained locally, no protocol needed"
        log(
            f"   {who}: {metric} {c.score:.4f} on {c.scored_rows} customers "
            f"({how}, {c.seconds:.1f} s)"
        )
    log(f"   method: {contribution.approximation}; {contribution.seconds:.1f} s in all")
    payouts = proportional_payouts(
        contribution.values, budget_minor, label=f"Shapley on validation {metric}"
    )
    paid = {p.participant: p.amount_minor for p in payouts}
    for party, phi in contribution.ranking():
        log(
            f"   {party}: Shapley {phi:+.4f} {metric} -> {format_amount(paid[party], currency)} "
            f"of {format_amount(budget_minor, currency)}"
        )
    return CreditContribution(
        consortium.dataset,
        consortium.customers,
        contribution,
        tuple(payouts),
        budget_minor,
        currency,
    )
