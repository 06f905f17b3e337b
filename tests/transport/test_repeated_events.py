"""A party can repeat joins and refused streams at will; the hub records the first 20 of
each kind, then only the 100th, 1000th and every 10000th, so n repeats cost O(20 + n/10^4)
records, and each recorded one past the 20th says how many there were."""

from __future__ import annotations

import threading

import pytest

from rengo.transport.repeated_events import RepeatedEvents, repeat_note, worth_recording


@pytest.mark.parametrize(
    ("repeats", "recorded"), [(1, 1), (20, 20), (99, 20), (100, 21), (5_000, 22), (100_000, 32)]
)
def test_n_repeats_are_recorded_20_times_plus_the_100th_1000th_and_every_10000th(
    repeats: int, recorded: int
) -> None:
    assert sum(worth_recording(n) for n in range(1, repeats + 1)) == recorded


def test_a_recorded_repeat_past_the_20th_says_which_it_is_and_the_first_20_say_nothing() -> None:
    assert repeat_note(20) == ""
    assert repeat_note(100).startswith(" (the 100th time; past the 20th only the 100th")


def test_counts_from_many_threads_are_each_counted_once_per_party() -> None:
    events = RepeatedEvents()
    seen: list[int] = []

    def count() -> None:
        seen.extend(events.count("joined", "p0") for _ in range(1_000))

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 4_001))
    assert events.count("joined", "p1") == 1
