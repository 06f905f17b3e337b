"""The demo tournament's cast: five participants whose skill is known in advance, so that the
leaderboard shows that CORR/MMC scoring and staking pay skill and originality, not copying
or noise.

good / medium / weak train ridge models on more or fewer rows and features; copycat submits
the stake-weighted meta model of the others; noise submits uniform random numbers.
"""

from __future__ import annotations

from rengo.tournament import SimulatedParticipant

FIVE_PARTICIPANTS: tuple[SimulatedParticipant, ...] = (
    SimulatedParticipant("good", "model", 10_000, features=20, train_rows=4000),
    SimulatedParticipant("medium", "model", 10_000, features=10, train_rows=1000),
    SimulatedParticipant("weak", "model", 5_000, features=3, train_rows=150),
    SimulatedParticipant("copycat", "copy_meta", 10_000),
    SimulatedParticipant("noise", "noise", 5_000),
)
"""The example's cast: stakes in minor units (100.00 = 10,000)."""
