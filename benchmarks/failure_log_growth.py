"""Memory the coordinator's client failure log holds after many rounds in which one party
fails every round: with the same reason (a round timeout), and with the straggler rule's
reason, which names other seconds every round.

    python benchmarks/failure_log_growth.py

Prints, after 1,000, 10,000 and 50,000 rounds, the bytes tracemalloc traces for the log and
how many first failures it recorded (each a warning line and a run-store event).
"""

from __future__ import annotations

import logging
import tracemalloc
from collections.abc import Callable

from rengo.hfl.failure_log import ClientFailureLog


def straggler_reason(server_round: int) -> str:
    waited, first = 60 + (server_round * 7.31) % 300, 0.2 + (server_round * 0.173) % 9
    return (
        f"timed out: no answer within {waited:.1f}s, while 4 of 5 parties answered (the first "
        f"3 within {first:.2f}s; stragglers wait 10x that, at least 60s more)"
    )


def measure(label: str, reason: Callable[[int], str]) -> None:
    recorded: list[int] = []
    failures = ClientFailureLog(lambda r, client, text, tb: recorded.append(r))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    done = 0
    for rounds in (1_000, 10_000, 50_000):
        for server_round in range(done + 1, rounds + 1):
            failures.report(server_round, "laptop-3", reason(server_round))
            failures.end_round(server_round)
        done = rounds
        grown = tracemalloc.get_traced_memory()[0] - base
        print(
            f"{label:16s} {rounds:7d} rounds: {grown / 1e6:7.2f} MB traced, "
            f"{len(recorded):6d} first failures recorded"
        )
    tracemalloc.stop()


def main() -> None:
    logging.disable(logging.WARNING)
    measure("same reason", lambda r: "timed out (limit 30s)")
    measure("straggler reason", straggler_reason)


if __name__ == "__main__":
    main()
