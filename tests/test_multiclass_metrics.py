"""The metrics of class probabilities (macro F1, multi-class log loss, macro one-vs-rest
AUC) equal scikit-learn's on any labelled probability matrix, and refuse input they cannot
score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from rengo.core.errors import DataError
from rengo.jobs.vertical import class_probability_metrics
from rengo.metrics import macro_f1, macro_ovr_auc, multiclass_log_loss


@st.composite
def labelled_probabilities(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """K >= 3 classes, every one present; rows of probabilities summing to 1, with ties
    (values drawn from a small grid) and near-zero entries."""
    classes = draw(st.integers(3, 6))
    n = draw(st.integers(classes, 50))
    codes = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    codes[:classes] = np.arange(classes)
    grid = st.sampled_from([0.0, 1e-9, 0.1, 0.25, 0.5, 1.0, 3.0])
    raw = np.array(draw(st.lists(grid, min_size=n * classes, max_size=n * classes)))
    raw = raw.reshape(n, classes) + 1e-12
    return codes, raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=150, deadline=None)
@given(labelled_probabilities())
def test_each_metric_equals_scikit_learns(case: tuple[np.ndarray, np.ndarray]) -> None:
    codes, proba = case
    predicted = proba.argmax(axis=1)
    assert macro_f1(codes, predicted) == pytest.approx(
        f1_score(codes, predicted, average="macro", zero_division=0), abs=1e-12
    )
    labels = list(range(proba.shape[1]))
    assert multiclass_log_loss(codes, proba) == pytest.approx(
        sk_log_loss(codes, proba, labels=labels), abs=1e-12
    )
    assert macro_ovr_auc(codes, proba) == pytest.approx(
        roc_auc_score(codes, proba, multi_class="ovr", average="macro"), abs=1e-12
    )


def test_a_job_records_the_four_metrics_of_class_probabilities() -> None:
    codes = np.array([0, 1, 2, 2, 1, 0])
    proba = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.1, 0.6, 0.3],
            [0.2, 0.2, 0.6],
            [0.5, 0.1, 0.4],
            [0.3, 0.4, 0.3],
            [0.2, 0.5, 0.3],
        ]
    )
    metrics = class_probability_metrics(codes, proba)
    assert set(metrics) == {"accuracy", "macro_f1", "log_loss", "macro_auc_ovr"}
    assert metrics["accuracy"] == pytest.approx(4 / 6)


def test_a_held_out_class_the_model_never_trained_on_leaves_out_log_loss_and_auc() -> None:
    """Every row of class 3 was held out, so the model has 3 columns: those rows count as
    wrong, and the run keeps its accuracy and macro F1 instead of failing after training."""
    codes = np.array([0, 1, 2, 3, 0])
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]
    )
    metrics = class_probability_metrics(codes, proba)
    assert set(metrics) == {"accuracy", "macro_f1"}
    assert metrics["accuracy"] == pytest.approx(4 / 5)


@pytest.mark.parametrize(
    ("codes", "proba", "says"),
    [
        (np.array([0, 3]), np.full((2, 3), 1 / 3), "class codes 0..2"),
        (np.array([0, 1]), np.full((3, 3), 1 / 3), "align them by row"),
        (np.array([0, 1]), np.array([[1.5, 0, 0], [0, 1, 0]]), "probabilities in"),
    ],
)
def test_misaligned_or_impossible_input_is_refused(
    codes: np.ndarray, proba: np.ndarray, says: str
) -> None:
    with pytest.raises(DataError, match=says):
        multiclass_log_loss(codes, proba)


def test_the_auc_needs_two_classes_present() -> None:
    with pytest.raises(DataError, match="at least two classes"):
        macro_ovr_auc(np.array([1, 1]), np.full((2, 3), 1 / 3))
