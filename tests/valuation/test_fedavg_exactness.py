"""FedAvg arithmetic is what its docstring says: float64 accumulation rounded once, so the
contribution code's grand-coalition model is the coordinator's model bit for bit, and the
strategy used directly refuses what would corrupt the mean."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rengo.core.errors import DataError
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, FedAvg, WeightedSum, simulate
from rengo.valuation import RoundUpdates, coalition_round_model, fedavg_parameters

COUNTS = {"c0": 7, "c1": 131, "c2": 1, "c3": 29, "c4": 1000}


class NoisyFloat32Client(Client):
    """Returns the global model plus client-specific float32 noise, with its own count."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        rng = np.random.default_rng([int(self.cid[1:]), int(config.get("round", 0))])  # type: ignore[arg-type]
        out = [
            (p + rng.normal(scale=0.3, size=p.shape)).astype(np.float32, copy=False)
            for p in parameters
        ]
        return FitResult(out, COUNTS[self.cid], {})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1, {})


class Recorder:
    """A round observer keeping each round's updates and the coordinator's new model."""

    def __init__(self) -> None:
        self.updates: dict[int, list[tuple[str, Parameters, float]]] = {}
        self.models: dict[int, tuple[Parameters, Parameters]] = {}

    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: FitResult
    ) -> None:
        row = (client_id, [p.copy() for p in result.parameters], float(result.num_examples))
        self.updates.setdefault(server_round, []).append(row)

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
    ) -> None:
        self.models[server_round] = ([p.copy() for p in old], [p.copy() for p in new])


def test_grand_coalition_model_is_the_coordinators_model_bit_for_bit() -> None:
    recorder = Recorder()
    initial = [
        np.random.default_rng(0).normal(size=(40, 30)).astype(np.float32),
        np.zeros(30, dtype=np.float32),
    ]
    simulate(
        NoisyFloat32Client,
        list(COUNTS),
        FedAvg(min_fit_clients=5, min_available_clients=5, on_fit_config=lambda r: {"round": r}),
        initial,
        rounds=3,
        seed=0,
        observers=[recorder],
    )
    for server_round, rows in recorder.updates.items():
        old, new = recorder.models[server_round]
        stored = RoundUpdates(
            server_round,
            old,
            tuple(cid for cid, _, _ in rows),
            tuple(u for _, u, _ in rows),
            tuple(w for _, _, w in rows),
        )
        grand = coalition_round_model(stored, frozenset(COUNTS))
        for ours, coordinators in zip(grand, new, strict=True):
            assert ours.dtype == coordinators.dtype == np.float32
            assert np.array_equal(ours, coordinators)


def exact_weighted_mean(arrays: list[np.ndarray], weights: list[int]) -> np.ndarray:
    """The weighted mean in exact rational arithmetic, then rounded to float64."""
    total = sum(weights)
    flat = [a.ravel().tolist() for a in arrays]
    out = [
        float(sum(Fraction(w) * Fraction(v[k]) for v, w in zip(flat, weights, strict=True)) / total)
        for k in range(arrays[0].size)
    ]
    return np.array(out).reshape(arrays[0].shape)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda n: st.tuples(
            st.lists(
                hnp.arrays(np.float32, (3, 4), elements=st.floats(-1e3, 1e3, width=32)),
                min_size=n,
                max_size=n,
            ),
            st.lists(st.integers(1, 10_000), min_size=n, max_size=n),
        )
    )
)
def test_fedavg_of_float32_models_is_the_exact_mean_rounded_once(case) -> None:  # type: ignore[no-untyped-def]
    arrays, weights = case
    got = fedavg_parameters([[a] for a in arrays], weights)[0]
    exact = exact_weighted_mean(arrays, weights)
    # products of float32 values and integer counts are exact in float64 and their sum is
    # within a few float64 ulps of the exact mean, far below float32's ulp: the one final
    # rounding gives the exact mean's float32 (the old float32 products missed it on about
    # a third of the elements)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, exact.astype(np.float32))


def aggregate(results: list[tuple[Parameters, float]], reference: Parameters) -> Parameters:
    strategy = FedAvg()
    acc = strategy.accumulator(1, reference)
    for params, count in results:
        acc.add(params, count, {})
    out = strategy.aggregate_fit(1, reference, acc)
    assert isinstance(out, list)
    return out


def test_a_zero_weight_client_holding_nan_or_inf_cannot_reach_the_mean() -> None:
    ref = [np.zeros(3)]
    out = aggregate(
        [([np.array([1.0, 2.0, 3.0])], 2), ([np.array([np.inf, np.nan, -np.inf])], 0)], ref
    )
    np.testing.assert_array_equal(out[0], [1.0, 2.0, 3.0])


def test_direct_use_refuses_negative_counts_bad_shapes_and_non_finite_updates() -> None:
    acc = WeightedSum([np.zeros((2, 3))])
    with pytest.raises(DataError, match="weight"):
        acc.add([np.ones((2, 3))], -1, {})
    with pytest.raises(DataError, match="weight"):
        acc.add([np.ones((2, 3))], float("nan"), {})
    with pytest.raises(DataError, match="broadcast"):
        acc.add([np.ones((1, 3))], 5, {})  # would broadcast silently
    with pytest.raises(DataError, match="broadcast"):
        acc.add([np.ones((1, 3))], 0, {})  # a wrong shape is wrong at any weight
    with pytest.raises(DataError, match="arrays"):
        acc.add([np.ones((2, 3)), np.ones(2)], 5, {})
    with pytest.raises(DataError, match="NaN"):
        acc.add([np.full((2, 3), np.nan)], 5, {})
    assert acc.count == 0 and acc.total_weight == 0.0  # nothing was folded


def test_integer_arrays_are_rounded_to_the_nearest_not_truncated() -> None:
    ref = [np.zeros(3, dtype=np.int64), np.zeros(2, dtype=np.float32)]
    out = aggregate(
        [
            ([np.array([1, 2, -1]), np.array([0.5, 1.0], dtype=np.float32)], 1),
            ([np.array([2, 4, -2]), np.array([1.5, 2.0], dtype=np.float32)], 2),
        ],
        ref,
    )
    # means 5/3, 10/3, -5/3: truncation would give 1, 3, -1
    np.testing.assert_array_equal(out[0], [2, 3, -2])
    assert out[0].dtype == np.int64 and out[1].dtype == np.float32
