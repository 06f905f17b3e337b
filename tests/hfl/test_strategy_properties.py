"""Strategy invariants, as properties over random inputs (Hypothesis):

* FedAvg and the robust rules do not depend on the order clients report in;
* the streaming WeightedSum fold equals the batch weighted mean;
* FedAvg of identical models is that model;
* every rule's result lies within the coordinate-wise range of the inputs.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rengo.core.messages import FitResult
from rengo.hfl import FedAvg, FedMedian, FedTrimmedAvg, Krum, Strategy, WeightedSum
from rengo.hfl.strategy import krum_scores

values = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False, width=64)


@st.composite
def client_updates(
    draw: st.DrawFn, min_clients: int = 1, unique: bool = False
) -> tuple[list[np.ndarray], list[int]]:
    """3..9 clients' models (as flat rows of 2..10 values), with example counts; ``unique``:
    no value twice (Hypothesis otherwise fills arrays with repeats, whose ties a test may
    have to filter out)."""
    size = draw(st.integers(2, 10))
    k = draw(st.integers(max(min_clients, 3), 9))
    flat = draw(arrays(np.float64, (k, size), elements=values, unique=unique))
    weights = draw(st.lists(st.integers(1, 1000), min_size=k, max_size=k))
    return [row for row in flat], weights


def _split(row: np.ndarray) -> list[np.ndarray]:
    """A flat row as a two-array model: a scalar-like (1,) array and a column."""
    return [row[:1].copy(), row[1:].reshape(-1, 1).copy()]


def _aggregate(strategy: Strategy, rows: list[np.ndarray], weights: list[int]) -> np.ndarray:
    model = [np.zeros_like(p) for p in _split(rows[0])]
    acc = strategy.accumulator(1, model)
    for i, (row, w) in enumerate(zip(rows, weights, strict=True)):
        strategy.add_result(acc, str(i), FitResult(_split(row), w))
    result = strategy.aggregate_fit(1, model, acc, np.random.default_rng(0))
    assert isinstance(result, list)
    return np.concatenate([p.ravel() for p in result])


def _close(a: np.ndarray, b: np.ndarray, scale: float) -> None:
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(scale, 1.0))


@settings(max_examples=80, deadline=None)
@given(client_updates(), st.randoms(use_true_random=False))
def test_fedavg_ignores_the_order_clients_report_in(data, random) -> None:
    rows, weights = data
    order = list(range(len(rows)))
    random.shuffle(order)
    scale = float(np.abs(np.stack(rows)).max())
    _close(
        _aggregate(FedAvg(), rows, weights),
        _aggregate(FedAvg(), [rows[i] for i in order], [weights[i] for i in order]),
        scale,
    )


@settings(max_examples=60, deadline=None)
@given(client_updates(min_clients=5), st.randoms(use_true_random=False))
def test_median_and_trimmed_mean_are_exactly_order_free(data, random) -> None:
    rows, weights = data
    order = list(range(len(rows)))
    random.shuffle(order)
    shuffled = ([rows[i] for i in order], [weights[i] for i in order])
    for rule in (FedMedian(), FedTrimmedAvg(beta=0.2)):
        a, b = _aggregate(rule, rows, weights), _aggregate(rule, *shuffled)
        assert a.tobytes() == b.tobytes()


@settings(max_examples=60, deadline=None)
@given(client_updates(min_clients=5, unique=True), st.randoms(use_true_random=False))
def test_krum_is_order_free_when_scores_are_distinct(data, random) -> None:
    rows, weights = data
    scores = krum_scores(np.stack(rows), 1)
    assume(len(np.unique(scores)) == len(scores))  # ties are broken by position, by design
    order = list(range(len(rows)))
    random.shuffle(order)
    rule = Krum(num_byzantine=1, num_selected=2)
    scale = float(np.abs(np.stack(rows)).max())
    _close(
        _aggregate(rule, rows, weights),
        _aggregate(rule, [rows[i] for i in order], [weights[i] for i in order]),
        scale,
    )


@settings(max_examples=80, deadline=None)
@given(client_updates())
def test_the_streaming_fold_equals_the_batch_weighted_mean(data) -> None:
    rows, weights = data
    acc = WeightedSum(_split(rows[0]))
    for row, w in zip(rows, weights, strict=True):
        acc.add(_split(row), float(w), {"loss": float(row[0])})
    folded = np.concatenate([p.ravel() for p in acc.mean()])
    batch = np.average(np.stack(rows), axis=0, weights=np.asarray(weights, dtype=np.float64))
    _close(folded, batch, float(np.abs(np.stack(rows)).max()))
    expected_loss = np.average([r[0] for r in rows], weights=weights)
    assert np.isclose(acc.metrics()["loss"], expected_loss, rtol=1e-12, atol=1e-9)
    assert acc.count == len(rows) and acc.total_weight == sum(weights)


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 8), elements=values),
    st.lists(st.integers(1, 1000), min_size=1, max_size=9),
)
def test_fedavg_of_identical_models_is_that_model(row, weights) -> None:
    rows = [row] * max(len(weights), 3)
    weights = (weights * 3)[: len(rows)]
    model = [np.zeros_like(row)]
    strategy = FedAvg()
    acc = strategy.accumulator(1, model)
    for i, w in enumerate(weights):
        strategy.add_result(acc, str(i), FitResult([row.copy()], w))
    (result,) = strategy.aggregate_fit(1, model, acc, np.random.default_rng(0))
    _close(result, row, float(np.abs(row).max()))


@settings(max_examples=60, deadline=None)
@given(client_updates(min_clients=5))
def test_every_rule_stays_within_the_inputs_coordinate_range(data) -> None:
    rows, weights = data
    stack = np.stack(rows)
    low, high = stack.min(axis=0), stack.max(axis=0)
    slack = 1e-12 * max(float(np.abs(stack).max()), 1.0)
    for rule in (FedAvg(), FedMedian(), FedTrimmedAvg(beta=0.2), Krum(1, 2)):
        result = _aggregate(rule, rows, weights)
        assert np.all(result >= low - slack) and np.all(result <= high + slack), rule.name
