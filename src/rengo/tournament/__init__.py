"""A Numerai-style prediction tournament: participants submit predictions, never data.

Scoring (pure functions of one era): tie-kept ranks, gaussianisation, CORR against the
target and MMC, the contribution to the stake-weighted meta model. :class:`Tournament`
keeps the rounds: the coordinator publishes row ids in eras (and the features it shares),
participants submit predictions with a stake, the round resolves against targets only the
coordinator holds, and :class:`PayoutRule` pays stake x clip(a CORR + b MMC). The
simulation runs rounds with participants of known behaviour (the demo's cast lives in
:mod:`rengo.showcase`).
"""

from rengo.tournament.rounds import (
    EraScore,
    LeaderboardEntry,
    ParticipantRoundScore,
    PayoutRule,
    PublishedRound,
    RoundResult,
    Tournament,
    score_round,
)
from rengo.tournament.scoring import (
    gaussianize,
    mmc,
    numerai_corr,
    signed_power,
    stake_weighted_meta_model,
    tie_kept_rank,
)
from rengo.tournament.simulation import (
    SimulatedParticipant,
    SimulatedTournament,
    simulate_tournament,
)

__all__ = [
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
    "simulate_tournament",
    "stake_weighted_meta_model",
    "tie_kept_rank",
]
