"""Deprecated: ``rengo.contrib`` was split by concern and is removed in rengo 0.3.

* :mod:`rengo.valuation` - Shapley family, leave-one-out, MR/OR and GTG-Shapley,
  :class:`~rengo.valuation.ContributionTracker`, vertical party Shapley;
* :mod:`rengo.rewards` - money, payout policies, sybil measurement and mitigation;
* :mod:`rengo.tournament` - Numerai-style scoring, the tournament, its simulation;
* :mod:`rengo.showcase` - the credit-default story's contribution and the five-participant
  tournament cast.

Every name and module path of the old package still resolves, with a
:class:`DeprecationWarning` naming its new home: ``from rengo.contrib import Tournament``
and ``from rengo.contrib.shapley import exact_shapley`` keep working for one release.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rengo.core.deprecation import MovedModule, alias_moved_modules, moved_names

_HOMES: dict[str, tuple[str, ...]] = {
    "rengo.valuation": (
        "METHODS",
        "ContributionReport",
        "ContributionTracker",
        "ConvergenceRule",
        "CountingValue",
        "Evaluate",
        "GTGConfig",
        "RetrainScore",
        "RoundContribution",
        "RoundUpdates",
        "ShapleyResult",
        "ValueFunction",
        "VerticalContribution",
        "coalition_round_model",
        "coalition_whole_run_model",
        "exact_shapley",
        "fedavg_parameters",
        "gtg_round_shapley",
        "gtg_shapley",
        "leave_one_out",
        "mr_shapley",
        "or_shapley",
        "party_shapley",
        "permutation_shapley",
        "players_of",
        "round_value_function",
        "tmc_shapley",
        "validation_score",
        "vertical_party_contribution",
    ),
    "rengo.rewards": (
        "Budget",
        "Payout",
        "SybilReport",
        "currency_decimals",
        "equal_share_payouts",
        "format_minor",
        "grouped_shapley",
        "grouped_value",
        "identity_groups",
        "largest_remainder",
        "leave_one_out_payouts",
        "measure_sybil_gain",
        "proportional_payouts",
        "split_group_payout",
        "stake_clipped_payouts",
        "to_minor_units",
    ),
    "rengo.tournament": (
        "EraScore",
        "LeaderboardEntry",
        "ParticipantRoundScore",
        "PayoutRule",
        "PublishedRound",
        "RoundResult",
        "SimulatedParticipant",
        "SimulatedTournament",
        "Tournament",
        "gaussianize",
        "mmc",
        "numerai_corr",
        "score_round",
        "signed_power",
        "stake_weighted_meta_model",
        "tie_kept_rank",
    ),
    "rengo.showcase": ("FIVE_PARTICIPANTS", "CreditContribution", "credit_party_contribution"),
}

_SIMULATE = "rengo.contrib:_simulate_tournament_with_cast"
_SIMULATE_HINT = (
    "call rengo.tournament.simulate_tournament(participants, ...); the old default "
    "participants are rengo.showcase.FIVE_PARTICIPANTS"
)

_MODULES: dict[str, str | MovedModule] = {
    "rengo.contrib.shapley": "rengo.valuation.shapley",
    "rengo.contrib.fl_reconstruction": "rengo.valuation.reconstruction",
    "rengo.contrib.gtg": "rengo.valuation.gtg",
    "rengo.contrib.tracker": "rengo.valuation.tracker",
    "rengo.contrib.vfl_contribution": "rengo.valuation.party_shapley",
    "rengo.contrib.vfl_parties": MovedModule(
        "rengo.valuation.vertical",
        {
            "CreditContribution": "rengo.showcase.credit_contribution",
            "credit_party_contribution": "rengo.showcase.credit_contribution",
        },
    ),
    "rengo.contrib.money": "rengo.rewards.money",
    "rengo.contrib.payouts": "rengo.rewards.payouts",
    "rengo.contrib.sybil": "rengo.rewards.sybil",
    "rengo.contrib.numerai_scoring": "rengo.tournament.scoring",
    "rengo.contrib.tournament": "rengo.tournament.rounds",
    "rengo.contrib.tournament_simulation": MovedModule(
        "rengo.tournament.simulation",
        {
            "FIVE_PARTICIPANTS": "rengo.showcase.tournament_cast",
            "simulate_tournament": _SIMULATE,
        },
        hints={"simulate_tournament": _SIMULATE_HINT},
    ),
}


def _simulate_tournament_with_cast(
    participants: Sequence[Any] | None = None, **options: Any
) -> Any:
    """The old ``simulate_tournament``, whose participants defaulted to the demo's cast."""
    from rengo.showcase import FIVE_PARTICIPANTS
    from rengo.tournament import simulate_tournament

    cast = FIVE_PARTICIPANTS if participants is None else participants
    return simulate_tournament(cast, **options)


def _submodule(name: str) -> Any:
    """``rengo.contrib.shapley`` as an attribute, as after the old package's imports."""
    if f"{__name__}.{name}" not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return importlib.import_module(f"{__name__}.{name}")


alias_moved_modules(_MODULES)
__getattr__ = moved_names(
    __name__,
    {
        **{name: home for home, names in _HOMES.items() for name in names},
        "simulate_tournament": _SIMULATE,
    },
    hints={"simulate_tournament": _SIMULATE_HINT},
    fallback=_submodule,
)
__all__ = sorted([*(name for names in _HOMES.values() for name in names), "simulate_tournament"])
