"""A participant that joins under two identities with one update (or copies another's) is
valued as one player, its value split between the copies: joining twice earns nothing."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.messages import FitResult
from rengo.rewards import proportional_payouts
from rengo.valuation import ContributionTracker
from rengo.valuation.identity import identical_updates

DIM = 20
RNG = np.random.default_rng(0)
TARGET = RNG.normal(size=DIM)
START = np.zeros(DIM)
HONEST = {f"c{i}": 0.6 * TARGET + RNG.normal(scale=0.5, size=DIM) for i in range(4)}


def _score(parameters: list[np.ndarray]) -> float:
    return -float(np.sum((parameters[0] - TARGET) ** 2))


def _values(updates: dict[str, np.ndarray], method: str = "mr") -> dict[str, float]:
    tracker = ContributionTracker(_score, method, seed=1)
    for cid, update in updates.items():
        tracker.on_fit_result(1, [START], cid, FitResult([update], 100, {}))
    tracker.on_round_end(1, [START], [START], {})
    return tracker.report().values


def _paid(values: dict[str, float], who: set[str]) -> int:
    return sum(
        p.amount_minor for p in proportional_payouts(values, 100_000) if p.participant in who
    )


@pytest.mark.parametrize("method", ["mr", "gtg", "loo"])
def test_joining_twice_with_one_update_earns_no_more_than_joining_once(method: str) -> None:
    """Valued as two symmetric players, 'c3' joining again as 'c3b' with the same update
    raised its share of the pool from 23484 to 31972 (of 100000)."""
    once = _paid(_values(HONEST, method), {"c3"})
    twice = _paid(_values({**HONEST, "c3b": HONEST["c3"].copy()}, method), {"c3", "c3b"})
    assert twice <= once


def test_merged_copies_share_one_players_value_and_the_round_still_adds_up() -> None:
    tracker = ContributionTracker(_score, "mr")
    for cid, update in {**HONEST, "c3b": HONEST["c3"].copy()}.items():
        tracker.on_fit_result(1, [START], cid, FitResult([update], 100, {}))
    tracker.on_round_end(1, [START], [START], {})
    report = tracker.report()
    assert report.notes == (
        "round 1: clients ['c3', 'c3b'] sent identical updates; valued as one player, its "
        "value split equally among them",
    )
    values = report.values
    assert values["c3"] == values["c3b"]
    everyone = np.mean([*HONEST.values(), HONEST["c3"]], axis=0)
    assert sum(values.values()) == pytest.approx(_score([everyone]) - _score([START]), abs=1e-9)


def test_identical_means_bit_for_bit_and_every_array() -> None:
    a = [np.arange(3.0), np.ones(2)]
    same = [np.arange(3.0), np.ones(2)]
    nudged = [np.arange(3.0) + 1e-12, np.ones(2)]
    other_tail = [np.arange(3.0), np.zeros(2)]
    assert identical_updates(["a", "b", "c", "d", "e"], [a, nudged, same, other_tail, a]) == [
        ["a", "c", "e"]
    ]
    assert identical_updates(["a", "b"], [a, nudged]) == []


def test_merging_can_be_turned_off() -> None:
    tracker = ContributionTracker(_score, "mr", merge_identical=False)
    for cid, update in {**HONEST, "c3b": HONEST["c3"]}.items():
        tracker.on_fit_result(1, [START], cid, FitResult([update], 100, {}))
    tracker.on_round_end(1, [START], [START], {})
    assert tracker.identical == []
    assert set(tracker.report().values) == {*HONEST, "c3b"}
