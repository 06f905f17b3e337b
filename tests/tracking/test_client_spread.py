"""The worst decile (q-FFL's "worst 10 %") of per-client metrics: hand-checked values and
the order properties that must hold for any clients."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rengo.tracking.client_spread import client_metric_spread, decile_means, lower_is_better
from rengo.tracking.records import ClientRecord

values = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=60
)


def test_worst_decile_is_the_mean_of_the_worst_tenth() -> None:
    accuracies = [i / 20 for i in range(20)]  # 20 clients: the worst two are 0.0 and 0.05
    assert decile_means(accuracies, smaller_is_better=False) == (0.025, 0.925)
    losses = [1.0, 2.0, 3.0, 10.0]  # 4 clients: ceil(0.4) = one client per decile
    assert decile_means(losses, smaller_is_better=True) == (10.0, 1.0)
    assert decile_means([0.7], smaller_is_better=False) == (0.7, 0.7)
    with pytest.raises(ValueError, match="at least one value"):
        decile_means([], smaller_is_better=False)


@pytest.mark.parametrize(
    ("name", "smaller"),
    [
        ("loss", True),
        ("eval_loss", True),
        ("val-rmse", True),
        ("accuracy", False),
        ("auc", False),
        ("update_norm", True),  # the largest updates are the ones to look at
        ("fit_seconds", True),
        ("bytes_sent", True),
        ("central_r2", False),
        ("poisson_deviance", True),
        ("neg_rmse", False),  # negated: made higher-is-better
        ("neg_log_loss", False),
    ],
)
def test_direction_follows_the_metric(name: str, smaller: bool) -> None:
    assert lower_is_better(name) is smaller


@given(values, st.booleans())
def test_worst_mean_best_are_ordered(xs: list[float], smaller: bool) -> None:
    worst, best = decile_means(xs, smaller)
    mean = math.fsum(xs) / len(xs)
    tolerance = 1e-9 * max(1.0, max(abs(x) for x in xs))
    if smaller:
        assert best - tolerance <= mean <= worst + tolerance
    else:
        assert worst - tolerance <= mean <= best + tolerance
    assert min(xs) - tolerance <= worst <= max(xs) + tolerance


@given(values)
def test_worst_decile_ignores_client_order(xs: list[float]) -> None:
    assert decile_means(xs, False) == decile_means(list(reversed(xs)), False)


def test_spread_groups_by_phase_and_metric_and_skips_failures_and_nan() -> None:
    records = [
        ClientRecord(1, "a", "evaluate", "ok", 5, 0, 0, 0.1, None, {"accuracy": 0.5}),
        ClientRecord(1, "b", "evaluate", "ok", 5, 0, 0, 0.1, None, {"accuracy": 0.9}),
        ClientRecord(1, "c", "evaluate", "failed", 0, 0, 0, 0.1, "down", None),
        ClientRecord(1, "a", "fit", "ok", 5, 0, 0, 0.1, None, {"loss": math.nan, "tag": "x"}),
        ClientRecord(2, "a", "fit", "ok", 5, 0, 0, 0.1, None, {"loss": 0.3, "flag": True}),
    ]
    spread = client_metric_spread(records)
    assert list(spread) == ["evaluate accuracy", "fit loss"]
    (first,) = spread["evaluate accuracy"]
    assert (first.round, first.clients, first.mean) == (1, 2, pytest.approx(0.7))
    assert (first.worst_decile, first.best_decile, first.minimum, first.maximum) == (
        0.5,
        0.9,
        0.5,
        0.9,
    )
    assert [s.round for s in spread["fit loss"]] == [2]


def test_a_metric_fewer_than_half_the_rounds_clients_report_has_no_spread() -> None:
    """One party of five naming new metrics every round gave each name a spread of its
    own: 2,560 of them for a 40-round run, which 'rengo runs plot --clients' drew for over
    two minutes in 2.5 GB."""
    records = [
        ClientRecord(r, c, "fit", "ok", 5, 0, 0, 0.1, None, {"loss": 0.3, f"{c}{r}": 1.0})
        for r in (1, 2)
        for c in "abcde"
    ]
    records += [
        ClientRecord(1, "f", "fit", "failed", 0, 0, 0, 0.1, "down", None),
        ClientRecord(1, "a", "evaluate", "ok", 5, 0, 0, 0.1, None, {"accuracy": 0.9}),
        ClientRecord(1, "b", "evaluate", "ok", 5, 0, 0, 0.1, None, {}),  # half: kept
    ]
    spread = client_metric_spread(records)
    assert list(spread) == ["evaluate accuracy", "fit loss"]
    assert [(s.round, s.clients) for s in spread["fit loss"]] == [(1, 5), (2, 5)]
