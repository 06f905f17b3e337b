"""Vertical-FL party contribution end to end: Shapley values of the feature parties of a
hetero LR, by retraining each coalition (Wang 2019, "Interpret Federated Learning with
Shapley Values", arXiv:1905.04519), and the credit-default consortium's split of a budget.

The game's players are the feature (host) parties; the label party is in every coalition,
since without labels there is no model. ``v(S)`` is the validation score (AUC by default)
of a hetero LR retrained on the label party plus ``S``'s columns, computed by the label
party from the federated scores it receives anyway (see :mod:`rengo.vfl.hetero_contribution`
for the value function and the label-party-alone baseline). Up to ``exact_max_parties``
hosts every one of the 2^k coalitions is retrained and the values are exact; above that,
truncated Monte Carlo permutation sampling (Ghorbani & Zou 2019) retrains only the
coalitions the sampled permutations reach, and the values are estimates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.contrib.money import currency_decimals, format_minor
from rengo.contrib.payouts import Payout, proportional_payouts
from rengo.contrib.shapley import ConvergenceRule
from rengo.contrib.tracker import ContributionReport
from rengo.contrib.vfl_contribution import party_shapley
from rengo.crypto.dealing import ObfuscatorSource
from rengo.vfl.common import VerticalDataset
from rengo.vfl.hetero_contribution import (
    CoalitionScore,
    CoalitionValue,
    ModelFactory,
    scores_as_dict,
)
from rengo.vfl.hetero_credit_story import credit_consortium

EXACT_MAX_HOSTS = 6
"""Exact Shapley retrains 2^k coalitions: 64 trainings at 6 feature parties."""

DEFAULT_TMC_RULE = ConvergenceRule(tolerance=0.02, window=3, max_permutations=100)
"""When sampling stops above :data:`EXACT_MAX_HOSTS`: each permutation can cost k
retrainings, so the cap is lower than for cheap value functions."""


@dataclass(frozen=True)
class VerticalContribution:
    """Each feature party's Shapley value on a validation metric, with how it was computed.

    ``baseline`` is the label party alone, ``full`` every party together; for the exact
    method the values sum to ``full - baseline`` (efficiency). ``coalitions`` lists every
    retrained coalition with its score and time; ``seconds`` is the whole computation.
    """

    label_party: str
    metric: str
    values: dict[str, float]
    method: str
    approximation: str
    evaluations: int
    permutations: int
    baseline: float
    full: float
    coalitions: tuple[CoalitionScore, ...]
    seconds: float

    def ranking(self) -> list[tuple[str, float]]:
        """Feature parties from most to least valuable (ties by name)."""
        return sorted(self.values.items(), key=lambda kv: (-kv[1], kv[0]))

    def report(self) -> ContributionReport:
        """The values as a whole-run :class:`ContributionReport` (no rounds), the form
        :func:`rengo.tracking.record_contributions` stores."""
        return ContributionReport(
            self.method,
            dict(sorted(self.values.items())),
            (),
            self.evaluations,
            self.permutations,
            score_name=f"validation {self.metric}",
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain types only, for JSON reports."""
        return {
            "label_party": self.label_party,
            "metric": self.metric,
            "values": dict(self.values),
            "method": self.method,
            "approximation": self.approximation,
            "evaluations": self.evaluations,
            "permutations": self.permutations,
            "baseline": self.baseline,
            "full": self.full,
            "coalitions": scores_as_dict(self.coalitions),
            "seconds": self.seconds,
        }


def vertical_party_contribution(
    dataset: VerticalDataset,
    validation: VerticalDataset,
    *,
    make_model: ModelFactory,
    metric: str = "auc",
    seed: int = 0,
    exact_max_parties: int = EXACT_MAX_HOSTS,
    truncation: float = 0.01,
    rule: ConvergenceRule | None = None,
) -> VerticalContribution:
    """Shapley value of each feature party of ``dataset`` on ``validation``'s ``metric``.

    ``make_model`` makes the fresh hetero LR each coalition retrains. ``seed`` fixes the
    private set intersections, the label party's local batch order when the model has no
    seed, and the permutations sampled above ``exact_max_parties`` hosts (with
    ``truncation`` and ``rule``, default :data:`DEFAULT_TMC_RULE`).
    """
    started = time.perf_counter()
    value = CoalitionValue(dataset, validation, make_model, metric, seed)
    hosts = value.hosts
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5F1]))
    result = party_shapley(
        value,
        hosts,
        rng,
        exact_max_parties=exact_max_parties,
        truncation=truncation,
        rule=rule or DEFAULT_TMC_RULE,
    )
    everyone = value(frozenset(range(len(hosts))))
    alone = value(frozenset())
    coalitions = 2 ** len(hosts)
    if result.permutations == 0:
        approximation = f"exact: all {coalitions} coalitions of {len(hosts)} parties retrained"
    else:
        approximation = (
            f"truncated Monte Carlo estimate (Ghorbani & Zou 2019): {result.permutations} "
            f"sampled permutations, {result.evaluations} of {coalitions} coalitions "
            f"retrained, truncation {truncation:g} of the total gain"
        )
    return VerticalContribution(
        value.label_party,
        metric,
        {p: float(v) for p, v in zip(result.players, result.values, strict=True)},
        result.method,
        approximation,
        result.evaluations,
        result.permutations,
        alone,
        everyone,
        tuple(value.scores),
        time.perf_counter() - started,
    )


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
    currency: str = "credits",
    obfuscators: ObfuscatorSource = "coordinator",
    log: Callable[[str], Any] = print,
) -> CreditContribution:
    """How much the bank's and the telecom's columns add to the card issuer's new-customer
    AUC (exact Shapley, 4 trainings), and ``budget_minor`` split in proportion to it.

    Same customers, split and model as :func:`rengo.vfl.run_credit_default` with the same
    ``small``, ``seed``, ``key_bits`` and ``epochs``.
    """
    consortium = credit_consortium(
        small, key_bits=key_bits, epochs=epochs, seed=seed, obfuscators=obfuscators
    )
    log(
        f"contribution: {consortium.dataset}, {consortium.customers} customers; feature "
        f"parties {', '.join(consortium.train.hosts)}; {consortium.key_bits}-bit keys, "
        f"{consortium.epochs} epochs per retraining"
    )
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
    decimals = currency_decimals(currency)
    paid = {p.participant: p.amount_minor for p in payouts}
    for party, phi in contribution.ranking():
        log(
            f"   {party}: Shapley {phi:+.4f} {metric} -> "
            f"{format_minor(paid[party], decimals)} of {format_minor(budget_minor, decimals)} "
            f"{currency}"
        )
    return CreditContribution(
        consortium.dataset,
        consortium.customers,
        contribution,
        tuple(payouts),
        budget_minor,
        currency,
    )
