"""WOE and IV of per-bin counts: the textbook formula, FATE's smoothing, empty bins, IV >= 0,
invariance to monotone transforms under quantile binning, and selection by IV."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rengo.core.errors import ConfigError, DataError
from rengo.vfl.hetero_binning import FeatureIV, select_by_iv, woe_and_iv
from rengo.vfl.secureboost import fit_bins


def plain_iv(x: np.ndarray, y: np.ndarray, max_bin: int) -> float:
    """IV of column ``x`` on SecureBoost's quantile bins, counted with numpy."""
    bins = fit_bins(x[:, None], max_bin, party="test")
    binned = bins.transform(x[:, None])[:, 0]
    events = np.bincount(binned, weights=y, minlength=bins.value_bins(0) + 1)
    totals = np.bincount(binned, minlength=bins.value_bins(0) + 1)
    return woe_and_iv(events.astype(np.int64), totals - events.astype(np.int64))[1]


def test_woe_and_iv_equal_the_textbook_formula_by_hand() -> None:
    events, non_events = np.array([10, 30, 60]), np.array([50, 30, 20])
    woe, iv = woe_and_iv(events, non_events)
    e, n = events / 100, non_events / 100
    assert np.allclose(woe, np.log(e / n))
    assert iv == pytest.approx(float(((e - n) * np.log(e / n)).sum()))
    assert woe[0] == pytest.approx(math.log(0.1 / 0.5))


def test_a_one_class_bin_is_smoothed_with_the_adjustment_factor_on_both_counts() -> None:
    events, non_events = np.array([0, 40]), np.array([20, 20])
    woe, iv = woe_and_iv(events, non_events, adjustment_factor=0.5)
    assert woe[0] == pytest.approx(math.log((0.5 / 40) / (20.5 / 40)))
    assert woe[1] == pytest.approx(math.log((40 / 40) / (20 / 40)))
    e0, n0 = 0.5 / 40, 20.5 / 40
    assert iv == pytest.approx((e0 - n0) * math.log(e0 / n0) + (1 - 0.5) * math.log(2))
    assert np.isfinite(woe).all()


@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=12),
    st.integers(0, 12),
)
def test_an_empty_bin_gets_nan_woe_and_changes_nothing_else(
    counts: list[tuple[int, int]], where: int
) -> None:
    events = np.array([e for e, _ in counts])
    non_events = np.array([n for _, n in counts])
    if events.sum() == 0 or non_events.sum() == 0:
        return
    woe, iv = woe_and_iv(events, non_events)
    at = min(where, len(counts))
    woe2, iv2 = woe_and_iv(np.insert(events, at, 0), np.insert(non_events, at, 0))
    assert math.isnan(woe2[at])
    assert iv2 == pytest.approx(iv, rel=1e-12, abs=1e-15)
    np.testing.assert_array_equal(np.delete(woe2, at), woe)


@given(
    st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1, max_size=20),
    st.floats(0.01, 2.0),
)
def test_iv_is_never_negative(counts: list[tuple[int, int]], adjustment: float) -> None:
    events = np.array([e for e, _ in counts])
    non_events = np.array([n for _, n in counts])
    if events.sum() == 0 or non_events.sum() == 0:
        with pytest.raises(DataError, match="both classes"):
            woe_and_iv(events, non_events, adjustment)
        return
    assert woe_and_iv(events, non_events, adjustment)[1] >= 0


@given(
    st.lists(st.integers(-30, 30), min_size=8, max_size=200),
    st.integers(0, 2**32 - 1),
    st.integers(2, 12),
    st.sampled_from(["affine", "cube", "exp"]),
)
def test_iv_is_invariant_to_increasing_transforms_under_quantile_binning(
    values: list[int], seed: int, max_bin: int, transform: str
) -> None:
    x = np.array(values, dtype=np.float64)
    y = np.random.default_rng(seed).integers(0, 2, len(x)).astype(np.float64)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    moved = {"affine": 3.0 * x - 7.0, "cube": x**3, "exp": np.exp(x / 4.0)}[transform]
    assert plain_iv(moved, y, max_bin) == pytest.approx(plain_iv(x, y, max_bin), abs=1e-12)


def test_a_constant_column_has_iv_zero() -> None:
    y = np.array([0, 1, 1, 0, 1], dtype=np.float64)
    assert plain_iv(np.full(5, 3.0), y, 10) == 0.0


def test_labels_of_one_class_and_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(DataError, match="both classes"):
        woe_and_iv(np.array([3, 4]), np.array([0, 0]))
    with pytest.raises(ConfigError, match="adjustment_factor"):
        woe_and_iv(np.array([1, 4]), np.array([2, 0]), adjustment_factor=0)
    with pytest.raises(DataError, match="negative"):
        woe_and_iv(np.array([1, -1]), np.array([2, 3]))


def _iv(name: str, value: float) -> FeatureIV:
    return FeatureIV("bank", 0, name, (1,), (1,), (0.0,), value)


def test_selection_keeps_ivs_over_the_threshold_and_the_top_k_in_their_order() -> None:
    features = [_iv("a", 0.01), _iv("b", 0.5), _iv("c", 0.1), _iv("d", 0.3)]
    assert [f.name for f in select_by_iv(features, min_iv=0.1)] == ["b", "c", "d"]
    assert [f.name for f in select_by_iv(features, top_k=2)] == ["b", "d"]
    assert [f.name for f in select_by_iv(features, min_iv=0.4, top_k=3)] == ["b"]
    with pytest.raises(ConfigError, match="min_iv, top_k"):
        select_by_iv(features)
    with pytest.raises(ConfigError, match="top_k"):
        select_by_iv(features, top_k=0)
    with pytest.raises(ConfigError, match="min_iv"):
        select_by_iv(features, min_iv=-1.0)


def test_small_bins_merge_with_their_neighbours_by_row_counts_only() -> None:
    from rengo.vfl.hetero_binning.woe import default_min_bin_rows, merge_small_bins

    assert merge_small_bins(np.array([399, 1, 0]), 5).tolist() == [0, 0, 0]
    assert merge_small_bins(np.array([10, 2, 10, 0]), 5).tolist() == [0, 1, 1, 1]
    assert merge_small_bins(np.array([2, 10, 10, 3]), 5).tolist() == [0, 0, 1, 1]
    assert merge_small_bins(np.array([10, 10, 0]), 5).tolist() == [0, 1, 1]
    assert merge_small_bins(np.array([3, 3]), 1).tolist() == [0, 1]
    assert (default_min_bin_rows(400), default_min_bin_rows(30_000)) == (5, 150)
    # one event row alone in its bin: merged, so the column has IV 0 whatever its label
    for events, non_events in (([80, 1, 0], [319, 0, 0]), ([81, 0, 0], [318, 1, 0])):
        woe, iv = woe_and_iv(np.array(events), np.array(non_events), min_rows=5)
        assert iv == 0.0 and woe[:2].tolist() == [0.0, 0.0] and np.isnan(woe[2])
    # merged bins share their group's WOE; IV sums over the groups
    woe, iv = woe_and_iv(np.array([5, 1, 5]), np.array([5, 3, 15]), min_rows=5)
    group_woe, group_iv = woe_and_iv(np.array([5, 6]), np.array([5, 18]))
    assert woe.tolist() == [group_woe[0], group_woe[1], group_woe[1]] and iv == group_iv
