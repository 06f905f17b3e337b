"""A notebook shows a cell's last value by its repr: a ContributionReport printed every
round's values of every client (and a SimulatedTournament every era of every round: 12,560
characters for 8 rounds of 2 participants). They now show the totals a reader looks for."""

from __future__ import annotations

from rengo.tournament import SimulatedParticipant, simulate_tournament
from rengo.valuation import ContributionReport, RoundContribution


def test_a_report_s_repr_ranks_the_players_and_leaves_the_rounds_out() -> None:
    values = {f"client-{i:03d}": float(i) for i in range(200)}
    rounds = tuple(RoundContribution(r, values, 10) for r in range(1, 51))
    report = ContributionReport(
        "gtg", values, rounds, 500, 0, "accuracy", {"client-199": 0.5}, notes=("as FedAvg",)
    )
    text = repr(report)
    assert text.splitlines()[0] == (
        "ContributionReport(gtg, accuracy; 200 players, 50 rounds, 500 evaluations)"
    )
    assert text.splitlines()[1] == "  client-199: 199 +- 0.5"  # most valuable first
    assert "client-189" not in text and "190 more" in text
    assert "note: as FedAvg" in text
    assert len(text) < 1000


def test_a_simulated_tournament_s_repr_is_one_line_per_participant() -> None:
    sim = simulate_tournament(
        [
            SimulatedParticipant("a", "model", 1000, train_rows=200),
            SimulatedParticipant("b", "noise", 500),
        ],
        rounds=3,
        rows_per_era=50,
    )
    lines = repr(sim).splitlines()
    assert lines[0] == "SimulatedTournament(3 rounds)"
    mean_a = sum(r.scores["a"].score for r in sim.results) / 3
    assert lines[1] == f"  a: model, stake 1000, mean score {mean_a:.4g}"
    assert lines[2].startswith("  b: noise, stake 500, mean score ")
    assert len(lines) == 3


def test_a_tracker_s_repr_names_its_method_and_the_rounds_it_valued() -> None:
    """``tracker`` at the end of a cell showed ``<rengo.valuation.tracker.ContributionTracker
    at 0x7fee600e77d0>``; it now says what it values and how far it got."""
    import numpy as np

    from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init
    from rengo.valuation import ContributionTracker

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    judge = LogisticRegressionClient(X, y)

    def client(cid: str) -> LogisticRegressionClient:
        rows = slice(10 * int(cid), 10 * int(cid) + 10)
        return LogisticRegressionClient(X[rows], y[rows], lr=0.1)

    def accuracy(params: list[np.ndarray]) -> float:
        return float(judge.evaluate(params, {}).metrics["accuracy"])

    tracker = ContributionTracker(accuracy, "mr", score_name="accuracy")
    assert (
        repr(tracker) == "ContributionTracker(method='mr', score_name='accuracy', 0 rounds valued)"
    )
    simulate(client, 4, FedAvg(), softmax_init(3, 2), rounds=2, observers=[tracker])
    assert (
        repr(tracker) == "ContributionTracker(method='mr', score_name='accuracy', 2 rounds valued)"
    )


def test_a_tracker_s_repr_does_not_call_group_level_rounds_valued() -> None:
    """Rounds that fell back to group level (a coalition scored NaN, secure aggregation)
    value no player alone: the repr said "2 rounds valued" where the report says "group
    level in 2 of 2 rounds". For method 'or' nothing is valued before ``report()``."""
    import numpy as np

    from rengo.hfl import FedAvg, LogisticRegressionClient, simulate, softmax_init
    from rengo.valuation import ContributionTracker

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)

    def client(cid: str) -> LogisticRegressionClient:
        rows = slice(10 * int(cid), 10 * int(cid) + 10)
        return LogisticRegressionClient(X[rows], y[rows], lr=0.1)

    def no_score(params: list[np.ndarray]) -> float:
        return float("nan")  # every coalition unscorable: each round falls back

    tracker = ContributionTracker(no_score, "mr", score_name="accuracy")
    kept = ContributionTracker(no_score, "or", score_name="accuracy")
    simulate(client, 4, FedAvg(), softmax_init(3, 2), rounds=2, observers=[tracker, kept])
    assert tracker.report().method_label.endswith("group level in 2 of 2 rounds")
    assert repr(tracker) == (
        "ContributionTracker(method='mr', score_name='accuracy', 2 rounds, group level in 2)"
    )
    assert "valued" not in repr(kept) and "2 rounds kept" in repr(kept)
