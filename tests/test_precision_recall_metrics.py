"""Average precision equals scikit-learn's (ties included), and the thresholds chosen for a
target recall or precision are the best ones that reach it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, precision_score, recall_score

from rengo.core.errors import DataError
from rengo.metrics import (
    average_precision,
    threshold_for_precision,
    threshold_for_recall,
)


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Both classes present; integer-valued scores in a small range, so ties are common."""
    n = draw(st.integers(2, 60))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    labels[0], labels[1] = 0, 1
    scores = draw(st.lists(st.integers(-10, 10), min_size=n, max_size=n))
    return np.array(labels), np.array(scores, dtype=np.float64)


def test_average_precision_by_hand() -> None:
    # ranked 0.9 (pos), 0.8 (neg), 0.7 (pos): recall 1/2 at precision 1, then 1 at 2/3
    assert average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 0.5 * 2 / 3)
    # a tie between a positive and a negative enters together: precision 1/2 at recall 1
    assert average_precision([0, 1], [0.5, 0.5]) == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_equals_scikit_learn_on_rare_positives_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(2000) < 0.01).astype(int)
    y[:2] = (0, 1)
    score = np.round(rng.normal(size=2000) + 2 * y, 1)  # rounded: many ties
    assert len(np.unique(score)) < 200
    assert average_precision(y, score) == pytest.approx(
        average_precision_score(y, score), abs=1e-12
    )


@given(labelled_scores())
def test_average_precision_equals_scikit_learn_on_any_scores(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    y, score = data
    assert average_precision(y, score) == pytest.approx(
        average_precision_score(y, score), abs=1e-12
    )


def test_a_random_ranking_scores_about_the_positive_rate() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(20000) < 0.02).astype(int)
    assert average_precision(y, rng.random(20000)) == pytest.approx(y.mean(), abs=0.01)


@given(labelled_scores(), st.floats(0.01, 1.0))
def test_threshold_for_recall_is_the_highest_reaching_it(
    data: tuple[np.ndarray, np.ndarray], target: float
) -> None:
    y, score = data
    point = threshold_for_recall(y, score, target)
    flagged = score >= point.threshold
    assert point.recall == pytest.approx(recall_score(y, flagged))
    assert point.precision == pytest.approx(precision_score(y, flagged))
    assert point.recall >= target - 1e-12
    higher = np.unique(score[score > point.threshold])
    if higher.size:  # the next threshold up misses the target
        assert recall_score(y, score >= higher.min()) < target


@given(labelled_scores(), st.floats(0.05, 1.0))
def test_threshold_for_precision_is_the_lowest_keeping_it(
    data: tuple[np.ndarray, np.ndarray], target: float
) -> None:
    y, score = data
    point = threshold_for_precision(y, score, target)
    candidates = np.unique(score)
    keeping = [t for t in candidates if precision_score(y, score >= t) >= target - 1e-12]
    if not keeping:
        assert point is None
        return
    assert point is not None
    assert point.threshold == min(keeping)
    flagged = score >= point.threshold
    assert point.precision == pytest.approx(precision_score(y, flagged))
    assert point.recall == pytest.approx(recall_score(y, flagged))


def test_an_unreachable_precision_gives_no_threshold() -> None:
    # the positive ties the top negative: precision never exceeds 1/2
    assert threshold_for_precision([0, 1, 0], [0.9, 0.9, 0.1], 0.9) is None


@pytest.mark.parametrize("target", [0.0, -0.1, 1.5, float("nan")])
def test_a_target_outside_the_unit_interval_is_refused(target: float) -> None:
    with pytest.raises(DataError, match=r"must lie in \(0, 1\]"):
        threshold_for_recall([0, 1], [0.1, 0.9], target)
    with pytest.raises(DataError, match=r"must lie in \(0, 1\]"):
        threshold_for_precision([0, 1], [0.1, 0.9], target)


def test_one_class_is_refused_by_name() -> None:
    with pytest.raises(DataError, match="average_precision needs both classes"):
        average_precision([0, 0, 0], [0.1, 0.2, 0.3])
