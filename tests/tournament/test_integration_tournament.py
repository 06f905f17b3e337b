"""The simulated five-participant tournament pays skill and originality."""

from __future__ import annotations

from rengo.showcase import FIVE_PARTICIPANTS
from rengo.tournament import Tournament, simulate_tournament


def test_noise_is_burned_and_the_copycat_adds_no_mmc():
    sim = simulate_tournament(FIVE_PARTICIPANTS, seed=0)
    board = {e.participant: e for e in sim.tournament.leaderboard()}
    assert board["noise"].total_payout_minor < 0
    assert board["good"].total_payout_minor > board["weak"].total_payout_minor > 0
    assert abs(board["copycat"].mean_mmc) < 1e-4 < board["good"].mean_mmc
    assert board["good"].total_payout_minor > board["copycat"].total_payout_minor
    assert len(sim.results) == 6 and len(sim.tournament.history("good")) == 6 * 4


def test_simulated_tournament_survives_a_state_round_trip_and_respects_a_budget():
    sim = simulate_tournament(FIVE_PARTICIPANTS, rounds=2, seed=1, budget_minor=1_000)
    restored = Tournament.from_dict(sim.tournament.to_dict())
    assert restored.leaderboard() == sim.tournament.leaderboard()
    assert restored.budget is not None and restored.budget.paid_minor <= 1_000
