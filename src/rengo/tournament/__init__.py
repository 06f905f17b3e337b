"""A Numerai-style prediction tournament: participants submit predictions, never data.

Scoring (pure functions of one era) reproduces numerai-tools 0.7.2, checked against the
library itself: tie-kept ranks, gaussianisation, CORR against the target (optionally
without the target's 1.5 power), MMC (the contribution to the meta model, the stake-weighted
mean of the staked submissions' raw predictions), neutralisation and feature-neutral CORR.
:class:`Tournament` keeps the rounds: the coordinator publishes row ids in eras (and the
features it shares), participants submit predictions with a stake, the round resolves
against targets only the coordinator holds, and :class:`PayoutRule` pays
stake x clip(a CORR + b MMC + c FNC). The simulation runs rounds with participants of known
behaviour (the demo's cast lives in :mod:`rengo.showcase`).
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.tournament.rounds import (
        LEGACY_SCORING,
        MAX_STAKE_MINOR,
        EraScore,
        LeaderboardEntry,
        ParticipantRoundScore,
        PayoutRule,
        PublishedRound,
        RoundResult,
        Tournament,
        participant_name,
        score_round,
    )
    from rengo.tournament.scoring import (
        SCORING_VERSION,
        feature_neutral_corr,
        gaussianize,
        mmc,
        neutralize,
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
    "LEGACY_SCORING",
    "MAX_STAKE_MINOR",
    "SCORING_VERSION",
    "EraScore",
    "LeaderboardEntry",
    "ParticipantRoundScore",
    "PayoutRule",
    "PublishedRound",
    "RoundResult",
    "SimulatedParticipant",
    "SimulatedTournament",
    "Tournament",
    "feature_neutral_corr",
    "gaussianize",
    "mmc",
    "neutralize",
    "numerai_corr",
    "participant_name",
    "score_round",
    "signed_power",
    "simulate_tournament",
    "stake_weighted_meta_model",
    "tie_kept_rank",
]

__getattr__, __dir__ = lazy_exports(__name__)
