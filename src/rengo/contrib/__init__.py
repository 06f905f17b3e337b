"""rengo.contrib: who contributed what, and what they are paid.

Contribution: exact / truncated Monte Carlo / leave-one-out Shapley over any value
function; FL client contribution from reconstructed coalition models (MR and OR indices of
Song et al. 2019, GTG-Shapley of Liu et al. 2022); VFL party Shapley. Rewards: integer
minor-unit payout policies with exact rounding and a hard budget, sybil measurement and
mitigations (Qi & Zhu 2024). Tournament: Numerai-style CORR / MMC scoring and staking.
Online accounting during a run: :class:`ContributionTracker`, a round observer for the
horizontal coordinator.
"""

from rengo.contrib.fl_reconstruction import (
    Evaluate,
    RoundUpdates,
    coalition_round_model,
    coalition_whole_run_model,
    fedavg_parameters,
    mr_shapley,
    or_shapley,
    players_of,
    round_value_function,
)
from rengo.contrib.gtg import GTGConfig, gtg_round_shapley, gtg_shapley
from rengo.contrib.money import currency_decimals, format_minor, to_minor_units
from rengo.contrib.numerai_scoring import (
    gaussianize,
    mmc,
    numerai_corr,
    signed_power,
    stake_weighted_meta_model,
    tie_kept_rank,
)
from rengo.contrib.payouts import (
    Budget,
    Payout,
    equal_share_payouts,
    largest_remainder,
    proportional_payouts,
    stake_clipped_payouts,
)
from rengo.contrib.shapley import (
    ConvergenceRule,
    CountingValue,
    ShapleyResult,
    ValueFunction,
    exact_shapley,
    leave_one_out,
    permutation_shapley,
    tmc_shapley,
)
from rengo.contrib.sybil import (
    SybilReport,
    grouped_shapley,
    grouped_value,
    identity_groups,
    leave_one_out_payouts,
    measure_sybil_gain,
    split_group_payout,
)
from rengo.contrib.tournament import (
    EraScore,
    LeaderboardEntry,
    ParticipantRoundScore,
    PayoutRule,
    PublishedRound,
    RoundResult,
    Tournament,
    score_round,
)
from rengo.contrib.tournament_simulation import (
    FIVE_PARTICIPANTS,
    SimulatedParticipant,
    SimulatedTournament,
    simulate_tournament,
)
from rengo.contrib.tracker import (
    METHODS,
    ContributionReport,
    ContributionTracker,
    RoundContribution,
    validation_score,
)
from rengo.contrib.vfl_contribution import RetrainScore, party_shapley
from rengo.contrib.vfl_parties import (
    CreditContribution,
    VerticalContribution,
    credit_party_contribution,
    vertical_party_contribution,
)

__all__ = [
    "FIVE_PARTICIPANTS",
    "METHODS",
    "Budget",
    "ContributionReport",
    "ContributionTracker",
    "ConvergenceRule",
    "CountingValue",
    "CreditContribution",
    "EraScore",
    "Evaluate",
    "GTGConfig",
    "LeaderboardEntry",
    "ParticipantRoundScore",
    "Payout",
    "PayoutRule",
    "PublishedRound",
    "RetrainScore",
    "RoundContribution",
    "RoundResult",
    "RoundUpdates",
    "ShapleyResult",
    "SimulatedParticipant",
    "SimulatedTournament",
    "SybilReport",
    "Tournament",
    "ValueFunction",
    "VerticalContribution",
    "coalition_round_model",
    "coalition_whole_run_model",
    "credit_party_contribution",
    "currency_decimals",
    "equal_share_payouts",
    "exact_shapley",
    "fedavg_parameters",
    "format_minor",
    "gaussianize",
    "grouped_shapley",
    "grouped_value",
    "gtg_round_shapley",
    "gtg_shapley",
    "identity_groups",
    "largest_remainder",
    "leave_one_out",
    "leave_one_out_payouts",
    "measure_sybil_gain",
    "mmc",
    "mr_shapley",
    "numerai_corr",
    "or_shapley",
    "party_shapley",
    "permutation_shapley",
    "players_of",
    "proportional_payouts",
    "round_value_function",
    "score_round",
    "signed_power",
    "simulate_tournament",
    "split_group_payout",
    "stake_clipped_payouts",
    "stake_weighted_meta_model",
    "tie_kept_rank",
    "tmc_shapley",
    "to_minor_units",
    "validation_score",
    "vertical_party_contribution",
]
