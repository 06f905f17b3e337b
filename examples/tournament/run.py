"""A prediction tournament with five simulated participants of different skill.

    python examples/tournament/run.py [--rounds 6] [--seed 0]

good / medium / weak train ridge models on more or fewer rows and features; copycat submits
the stake-weighted meta model of the others; noise submits random numbers. Each round the
coordinator publishes rows in eras, collects predictions and stakes, scores CORR and MMC per
era against targets only it knows, and pays stake x clip(0.5 CORR + 2 MMC, +-5 %).
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from rengo.rewards import format_minor
from rengo.showcase import FIVE_PARTICIPANTS
from rengo.tournament import simulate_tournament
from rengo.tracking import leaderboard_table


def main(rounds: int = 6, seed: int = 0, console: Console | None = None) -> dict[str, int]:
    """Run the example; returns each participant's net payout in minor units."""
    console = console or Console()
    sim = simulate_tournament(FIVE_PARTICIPANTS, rounds=rounds, seed=seed)
    for result in sim.results:
        table = Table(title=f"Round {result.round}", title_justify="left")
        for column in ("participant", "stake", "CORR", "MMC", "payout"):
            table.add_column(column, justify="left" if column == "participant" else "right")
        paid = {p.participant: p.amount_minor for p in result.payouts}
        for name, s in sorted(result.scores.items(), key=lambda kv: -kv[1].score):
            table.add_row(
                name,
                format_minor(s.stake_minor),
                f"{s.corr:+.4f}",
                f"{s.mmc:+.4f}",
                format_minor(paid[name]),
            )
        console.print(table)
    entries = sim.tournament.leaderboard()
    totals = {e.participant: e.total_payout_minor for e in entries}
    board = leaderboard_table(entries, f"Leaderboard after {rounds} rounds")
    console.print(board)
    history = sim.tournament.history("good")
    console.print(
        "per-era CORR of 'good': "
        + ", ".join(f"{era.era} {era.corr:+.3f}" for _, era in history[:8])
        + (" ..." if len(history) > 8 else "")
    )
    return totals


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.rounds, args.seed)
