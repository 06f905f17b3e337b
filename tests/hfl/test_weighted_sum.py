"""The streaming accumulator keeps O(model) memory: sums and counters, never the results."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from rengo.hfl import WeightedSum


def _add_one(
    acc: WeightedSum,
    expected: list[np.ndarray],
    refs: list[weakref.ref],
    rng: np.random.Generator,
    weight: float,
    loss: float,
) -> None:
    """Fold one fresh random result in; only weak references to it outlive this call."""
    update = [rng.normal(size=(8, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)]
    for e, u in zip(expected, update, strict=True):
        e += weight * u.astype(np.float64)
    refs.extend(weakref.ref(u) for u in update)
    acc.add(update, weight, {"loss": loss})


def test_weighted_sum_retains_only_the_sums_of_200_results() -> None:
    reference = [np.zeros((8, 4), np.float32), np.zeros(4, np.float32)]
    acc = WeightedSum(reference)
    refs: list[weakref.ref] = []
    rng = np.random.default_rng(0)
    expected = [np.zeros((8, 4)), np.zeros(4)]
    for i in range(200):
        weight = float(1 + i % 7)
        _add_one(acc, expected, refs, rng, weight, float(i))
    gc.collect()

    assert all(r() is None for r in refs), "the accumulator kept a reference to a result"
    arrays = [v for v in vars(acc).values() if isinstance(v, list)]
    assert arrays == [acc.sums]
    assert [s.shape for s in acc.sums] == [(8, 4), (4,)]
    assert sum(s.nbytes for s in acc.sums) == 36 * 8  # one float64 copy of the model
    assert all(isinstance(v, dict) and len(v) == 1 for v in (acc._metric_sums, acc._metric_weights))
    assert acc.count == 200
    assert acc.total_weight == sum(1 + i % 7 for i in range(200))
    for got, want in zip(acc.mean(), expected, strict=True):
        np.testing.assert_allclose(got, want / acc.total_weight, rtol=1e-12)


def test_weighted_sum_mean_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no weight"):
        WeightedSum([np.zeros(2)]).mean()


def test_a_metric_fewer_than_half_the_results_report_is_no_mean_of_the_round() -> None:
    acc = WeightedSum([])
    acc.add([], 10.0, {"loss": 0.5, "accuracy": 0.9})
    acc.add([], 10.0, {"loss": 0.7, "accuracy": 0.8})
    acc.add([], 10.0, {"loss": 0.9, "invented": 1e6})  # one party's own name
    acc.add([], 10.0, {"loss": 1.1})
    assert acc.metrics() == pytest.approx({"loss": 0.8, "accuracy": 0.85})  # 2 of 4: kept


def test_one_of_two_parties_cannot_remove_a_metric_by_leaving_it_out() -> None:
    acc = WeightedSum([])
    acc.add([], 10.0, {"accuracy": 0.9})
    acc.add([], 30.0, {})
    assert acc.metrics() == {"accuracy": 0.9}
