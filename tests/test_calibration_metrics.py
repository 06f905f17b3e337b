"""Calibration metrics: the Brier score equals scikit-learn's, the expected calibration
error and reliability table give the answers worked out by hand, and bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss

from rengo.core.errors import DataError
from rengo.metrics import (
    brier_score,
    calibration,
    expected_calibration_error,
    lower_is_better,
    reliability_records,
    reliability_table,
)


@st.composite
def labelled_probabilities(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Labels (one class allowed) and probabilities in [0, 1], the ends included."""
    n = draw(st.integers(1, 80))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    p = draw(
        st.lists(
            st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False), min_size=n, max_size=n
        )
    )
    return np.array(labels), np.array(p)


@settings(max_examples=200, deadline=None)
@given(labelled_probabilities())
def test_brier_score_equals_scikit_learns_brier_score_loss(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = data
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p, pos_label=1), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labelled_probabilities(), st.integers(1, 20))
def test_ece_lies_in_unit_interval_and_the_table_counts_every_row_once(
    data: tuple[np.ndarray, np.ndarray], bins: int
) -> None:
    y, p = data
    table = reliability_table(y, p, bins)
    assert len(table) == bins
    assert sum(b.rows for b in table) == len(y)
    assert all(b.lower <= (b.mean_probability or b.lower) <= b.upper for b in table)
    assert 0.0 <= expected_calibration_error(y, p, bins) <= 1.0


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    # 10 rows at 0.2 with 2 positives, 10 at 0.7 with 7: each bin's rate equals its forecast
    p = np.r_[np.full(10, 0.2), np.full(10, 0.7)]
    y = np.r_[np.ones(2), np.zeros(8), np.ones(7), np.zeros(3)]
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_an_overconfident_model_is_its_weighted_gap() -> None:
    # bin [0.9, 1]: 4 rows at 0.95, 2 positive -> gap 0.45;
    # bin [0.1, 0.2): 6 rows at 0.15, none positive -> gap 0.15.
    # ECE = 4/10 * 0.45 + 6/10 * 0.15 = 0.27
    p = np.r_[np.full(4, 0.95), np.full(6, 0.15)]
    y = np.r_[1, 1, 0, 0, np.zeros(6)]
    assert expected_calibration_error(y, p) == pytest.approx(0.27)


def test_one_bin_ece_is_the_gap_between_mean_forecast_and_base_rate() -> None:
    p, y = np.array([0.1, 0.5, 0.9, 0.3]), np.array([1, 1, 1, 0])
    assert expected_calibration_error(y, p, bins=1) == pytest.approx(abs(0.75 - 0.45))


def test_bin_edges_are_closed_below_and_one_falls_in_the_last_bin() -> None:
    table = reliability_table([0, 1, 1], [0.1, 0.2, 1.0], bins=5)
    assert [b.rows for b in table] == [1, 1, 0, 0, 1]  # 0.1 -> [0, .2); 0.2 -> [.2, .4)
    assert table[4].mean_probability == 1.0 and table[4].observed_rate == 1.0
    assert table[2].mean_probability is None and table[2].gap is None


def test_reliability_records_are_json_rows_of_every_bin() -> None:
    rows = reliability_records(reliability_table([0, 1], [0.05, 0.95], bins=2))
    assert rows == [
        {"lower": 0.0, "upper": 0.5, "rows": 1, "mean_probability": 0.05, "observed_rate": 0.0},
        {"lower": 0.5, "upper": 1.0, "rows": 1, "mean_probability": 0.95, "observed_rate": 1.0},
    ]


def test_calibration_names_brier_and_ece_and_both_are_lower_is_better() -> None:
    metrics = calibration([0, 1, 1], [0.2, 0.6, 0.9])
    assert set(metrics) == {"brier", "ece"}
    for name in ("brier", "ece", "test_brier", "central_ece"):
        assert lower_is_better(name), name


@pytest.mark.parametrize(
    ("y", "p", "bins", "says"),
    [
        ([0, 1], [0.2, 1.2], 10, "probabilities in [0, 1]"),
        ([0, 2], [0.2, 0.3], 10, "labels in {0, 1}"),
        ([0, 1], [0.2, float("nan")], 10, "NaN"),
        ([], [], 10, "at least one row"),
        ([0, 1], [0.2, 0.3], 0, "bins must be"),
    ],
)
def test_bad_input_is_refused_naming_the_problem(
    y: list[int], p: list[float], bins: int, says: str
) -> None:
    with pytest.raises(DataError, match=says.replace("[", r"\[").replace("{", r"\{")):
        expected_calibration_error(y, p, bins)


def test_a_probability_just_below_an_edge_lands_in_the_bin_below_it() -> None:
    """0.8999999999999999 * 10 rounds to 9.0; the bin is still [0.8, 0.9), as documented."""
    table = reliability_table([0, 1], [0.8999999999999999, 0.9], 10)
    assert (table[8].rows, table[9].rows) == (1, 1)
    assert table[8].lower <= table[8].mean_probability < table[8].upper
