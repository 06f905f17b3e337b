"""rengo.metrics equals the reference implementations (scikit-learn, SciPy), keeps the
invariants of a rank metric, and refuses input it cannot score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from rengo.core.errors import DataError
from rengo.metrics import (
    BINARY_SCORERS,
    accuracy,
    binary_accuracy,
    ks_statistic,
    log_loss,
    neg_log_loss,
    roc_auc,
)


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Both classes present; integer-valued scores in a small range, so ties are common
    and any strictly increasing map of them stays exact in floating point."""
    n = draw(st.integers(2, 60))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    labels[0], labels[1] = 0, 1
    scores = draw(st.lists(st.integers(-40, 40), min_size=n, max_size=n))
    return np.array(labels), np.array(scores, dtype=np.float64)


INCREASING = [
    lambda s: 3.0 * s + 7.0,
    lambda s: s**3,
    lambda s: np.exp(s / 10.0),
    np.arctan,
]


def test_roc_auc_by_hand_counts_pairs_ordered_correctly() -> None:
    # pairs (negative, positive): (0.1, 0.35) ok, (0.1, 0.8) ok, (0.4, 0.35) wrong, (0.4, 0.8) ok
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_scikit_learn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.normal(size=300) + y, 1)  # rounded: many ties
    assert len(np.unique(score)) < 100
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(labelled_scores())
def test_roc_auc_matches_scikit_learn_on_any_scores(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, score = data
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(labelled_scores(), st.sampled_from(range(len(INCREASING))))
def test_roc_auc_is_invariant_under_increasing_transforms_of_the_scores(
    data: tuple[np.ndarray, np.ndarray], which: int
) -> None:
    y, score = data
    assert roc_auc(y, INCREASING[which](score)) == roc_auc(y, score)


@settings(max_examples=200, deadline=None)
@given(labelled_scores())
def test_reversing_the_scores_mirrors_the_auc(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, score = data
    assert roc_auc(y, -score) == pytest.approx(1.0 - roc_auc(y, score), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(labelled_scores(), st.sampled_from(range(len(INCREASING))))
def test_ks_is_in_unit_interval_invariant_under_increasing_transforms_and_equals_scipy(
    data: tuple[np.ndarray, np.ndarray], which: int
) -> None:
    y, score = data
    ks = ks_statistic(y, score)
    assert 0.0 <= ks <= 1.0
    assert ks_statistic(y, INCREASING[which](score)) == pytest.approx(ks, abs=1e-12)
    reference = ks_2samp(score[y == 1], score[y == 0]).statistic
    assert ks == pytest.approx(reference, abs=1e-12)


def test_ks_of_separated_scores_is_one_and_of_identical_distributions_zero() -> None:
    assert ks_statistic(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert ks_statistic(np.array([0, 1, 0, 1]), np.array([0.1, 0.1, 0.2, 0.2])) == 0.0


def test_accuracy_and_binary_accuracy_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 200)
    predicted = np.where(rng.random(200) < 0.7, y, rng.integers(0, 3, 200))
    assert accuracy(y, predicted) == pytest.approx(accuracy_score(y, predicted))
    labels = rng.integers(0, 2, 200)
    probability = rng.random(200)
    assert binary_accuracy(labels, probability) == pytest.approx(
        accuracy_score(labels, probability >= 0.5)
    )


def test_log_loss_matches_scikit_learn_and_neg_log_loss_is_its_negative() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 200)
    p = rng.uniform(0.01, 0.99, 200)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-12)
    assert neg_log_loss(y, p) == -log_loss(y, p)
    assert np.isfinite(log_loss([0, 1], [1.0, 0.0]))  # clipped, not infinite


def test_scorer_table_names_the_validation_metrics_higher_is_better() -> None:
    assert set(BINARY_SCORERS) == {"auc", "ks", "neg_log_loss", "accuracy"}
    y, good, bad = [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], [0.9, 0.6, 0.4, 0.1]
    for name, scorer in BINARY_SCORERS.items():
        assert scorer(y, good) > scorer(y, bad) or name == "ks", name


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "both classes"),
        ([], [], "both classes"),
        ([0, 1], [0.1, 0.2, 0.3], "2 labels but 3 scores"),
        ([0, 2, 1], [0.1, 0.2, 0.3], "labels in {0, 1}"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "NaN or infinite"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
    ],
)
def test_bad_input_is_refused_with_what_is_wrong(
    labels: list[int], scores: list[float], message: str
) -> None:
    for metric in (roc_auc, ks_statistic, binary_accuracy, log_loss):
        with pytest.raises(DataError, match=message.replace("{", r"\{").replace("}", r"\}")):
            metric(labels, scores)


def test_probabilities_outside_the_unit_interval_are_refused_by_log_loss() -> None:
    with pytest.raises(DataError, match="probabilities in"):
        log_loss([0, 1], [-0.5, 2.0])
    with pytest.raises(DataError, match="same non-zero length"):
        accuracy([0, 1], [0])


def test_boolean_labels_are_accepted() -> None:
    assert roc_auc(np.array([False, True]), [0.2, 0.9]) == 1.0


def test_vertical_math_module_re_exports_the_same_functions() -> None:
    import warnings

    with warnings.catch_warnings():  # its deprecation: tests/vfl/test_deprecated_paths.py
        warnings.simplefilter("ignore", DeprecationWarning)
        from rengo.vfl import hetero_lr_math

    assert hetero_lr_math.roc_auc is roc_auc
    assert hetero_lr_math.ks_statistic is ks_statistic
