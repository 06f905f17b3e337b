"""A party cut off every round is reported once, however the seconds in its reason differ,
and the coordinator's failure log does not grow with the rounds of a run of weeks."""

from __future__ import annotations

import logging
import tracemalloc

import pytest

from rengo.hfl.failure_log import ClientFailureLog


def straggler_reason(server_round: int) -> str:
    """The straggler rule's reason as a round gives it: other seconds every round."""
    waited, first = 60 + (server_round * 7.31) % 300, 0.2 + (server_round * 0.173) % 9
    return (
        f"timed out: no answer within {waited:.1f}s, while 4 of 5 parties answered (the first "
        f"3 within {first:.2f}s; stragglers wait 10x that, at least 60s more)"
    )


def test_a_party_cut_off_every_round_with_other_seconds_is_recorded_once() -> None:
    recorded: list[tuple[int, str]] = []
    failures = ClientFailureLog(lambda r, client, reason, tb: recorded.append((r, client)))
    for server_round in range(1, 101):
        failures.report(server_round, "laptop-3", straggler_reason(server_round))
        failures.end_round(server_round)
    assert recorded == [(1, "laptop-3")]
    assert failures.count("laptop-3", straggler_reason(7)) == 100


def test_failures_of_another_kind_are_still_recorded_the_first_time() -> None:
    recorded: list[str] = []
    failures = ClientFailureLog(lambda r, client, reason, tb: recorded.append(reason))
    failures.report(1, "a", "connection lost (RpcError)")
    failures.report(2, "a", straggler_reason(2))
    failures.report(3, "a", "connection lost (RpcError)")
    assert recorded == ["connection lost (RpcError)", straggler_reason(2)]


def test_the_failure_logs_memory_does_not_grow_with_the_rounds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="rengo.hfl")
    failures = ClientFailureLog()

    def rounds(first: int, last: int) -> None:
        for server_round in range(first, last):
            failures.report(server_round, "laptop-3", straggler_reason(server_round))
            failures.end_round(server_round)

    rounds(1, 100)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rounds(100, 3100)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # remembering each round's reason took about 0.4 kB a round (1.2 MB here)
    assert grown < 50_000, f"grew {grown} bytes over 3000 rounds"
