"""Plaintext math of hetero LR: Taylor forms, schedules, batch order, optimizers, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rengo.vfl.hetero_lr.math import (
    LOG2,
    batch_order,
    init_optimizer,
    ks_statistic,
    learning_rate,
    logistic_loss,
    optimizer_step,
    roc_auc,
    sigmoid,
    taylor_loss,
    taylor_residual,
)


def test_taylor_residual_equals_fate_form_with_signed_labels() -> None:
    u = np.array([-2.0, 0.0, 0.5, 3.0])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    signed = 2 * y - 1
    np.testing.assert_array_equal(taylor_residual(u, y), 0.25 * u - 0.5 * signed)


def test_taylor_residual_is_derivative_of_taylor_loss() -> None:
    rng = np.random.default_rng(0)
    u, y = rng.normal(size=50), rng.integers(0, 2, 50).astype(float)
    eps = 1e-6
    for i in range(5):
        bump = np.zeros(50)
        bump[i] = eps
        numeric = (taylor_loss(u + bump, y) - taylor_loss(u - bump, y)) / (2 * eps) * 50
        assert numeric == pytest.approx(taylor_residual(u, y)[i], abs=1e-6)


def test_taylor_loss_matches_logistic_loss_at_zero() -> None:
    y = np.array([0.0, 1.0])
    assert taylor_loss(np.zeros(2), y) == pytest.approx(LOG2)
    assert logistic_loss(np.zeros(2), y) == pytest.approx(LOG2)


def test_sigmoid_is_stable_for_large_inputs() -> None:
    out = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])


def test_batch_order_partitions_rows_and_depends_on_seed_and_epoch() -> None:
    batches = batch_order(7, 0, 103, 10)
    assert [len(b) for b in batches] == [10] * 10 + [3]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(103))
    again = batch_order(7, 0, 103, 10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    assert not np.array_equal(batch_order(7, 1, 103, 10)[0], batches[0])
    assert not np.array_equal(batch_order(8, 0, 103, 10)[0], batches[0])


def test_learning_rate_schedules() -> None:
    assert learning_rate(0.4, "constant", 9) == 0.4
    assert learning_rate(0.4, "inverse_sqrt", 3) == pytest.approx(0.2)
    assert learning_rate(0.4, "step", 25, decay=0.5, step_epochs=10) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        learning_rate(0.4, "cosine", 1)  # type: ignore[arg-type]


def test_sgd_step_is_weights_minus_lr_times_gradient() -> None:
    w, state = optimizer_step(
        np.array([1.0, 2.0]), np.array([0.5, -1.0]), init_optimizer(2), 0.1, "sgd"
    )
    np.testing.assert_allclose(w, [0.95, 2.1])
    assert state.step == 1


def test_first_adam_step_moves_each_coordinate_by_lr_against_gradient_sign() -> None:
    w, state = optimizer_step(
        np.zeros(3), np.array([2.0, -0.01, 0.0]), init_optimizer(3), 0.1, "adam"
    )
    np.testing.assert_allclose(w, [-0.1, 0.1, 0.0], atol=1e-6)
    assert state.step == 1


def test_roc_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    score = np.round(rng.normal(size=200) + y, 1)
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))


def test_ks_statistic_of_separated_scores_is_one() -> None:
    assert ks_statistic(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert ks_statistic(np.array([0, 1, 0, 1]), np.array([0.1, 0.1, 0.2, 0.2])) == 0.0
