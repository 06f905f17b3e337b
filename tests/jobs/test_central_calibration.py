"""A horizontal job's coordinator evaluation of a two-class model records its calibration
(the Brier score and ECE) beside its ranking metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from rengo.jobs.build import binary_ranking
from rengo.metrics import expected_calibration_error


def test_two_class_probabilities_get_brier_and_ece_of_the_positive_column() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = rng.uniform(0, 1, 200)
    metrics = binary_ranking(y, np.c_[1 - p1, p1])
    assert metrics["brier"] == pytest.approx(brier_score_loss(y, p1))
    assert metrics["ece"] == pytest.approx(expected_calibration_error(y, p1))


def test_three_classes_get_no_binary_metrics() -> None:
    probabilities = np.full((3, 3), 1 / 3)
    assert binary_ranking(np.array([0, 1, 2]), probabilities) == {}
