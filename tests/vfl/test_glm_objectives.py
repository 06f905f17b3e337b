"""The losses the coordinated hetero protocol trains: the residual is the derivative of the
per-row loss, the quadratic form equals the closed formula, and labels are checked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rengo.core.errors import DataError
from rengo.vfl.hetero_lr.math import taylor_residual
from rengo.vfl.hetero_lr.objective import LOGISTIC_TAYLOR, SQUARED, check_labels
from rengo.vfl.hetero_poisson.roles import POISSON

finite = st.floats(-5, 5, allow_nan=False)
vectors = arrays(np.float64, 12, elements=finite)


@settings(max_examples=50, deadline=None)
@given(u=vectors, y=vectors)
def test_squared_loss_is_half_the_squared_error_and_its_residual_the_error(
    u: np.ndarray, y: np.ndarray
) -> None:
    assert SQUARED.batch_loss(u, y) == pytest.approx(0.5 * np.sum((u - y) ** 2), abs=1e-9)
    np.testing.assert_allclose(SQUARED.residual(u, y), u - y, atol=1e-12)
    # the encrypted path: Enc(U) + offset(u_guest, y) is 2**shift * d with u = U + u_guest
    guest = y[::-1]
    np.testing.assert_allclose(
        (u - guest + SQUARED.offset(guest, y)) / 2**SQUARED.shift,
        SQUARED.residual(u, y),
        atol=1e-9,
    )


@settings(max_examples=50, deadline=None)
@given(u=vectors, labels=arrays(np.int64, 12, elements=st.integers(0, 1)))
def test_taylor_objective_keeps_hetero_lr_math_bit_for_bit(
    u: np.ndarray, labels: np.ndarray
) -> None:
    y = labels.astype(np.float64)
    assert np.array_equal(LOGISTIC_TAYLOR.residual(u, y), taylor_residual(u, y))
    expected = float(np.sum((0.5 - y) * u + 0.125 * u * u))
    assert LOGISTIC_TAYLOR.batch_loss(u, y) == expected


@settings(max_examples=50, deadline=None)
@given(u=vectors, y=vectors)
def test_each_residual_is_the_derivative_of_its_loss(u: np.ndarray, y: np.ndarray) -> None:
    counts = np.abs(np.round(y))
    for objective, labels in ((SQUARED, y), (LOGISTIC_TAYLOR, y), (POISSON, counts)):
        step = 1e-6
        numeric = np.array(
            [
                (
                    objective.batch_loss(u + step * e, labels)
                    - objective.batch_loss(u - step * e, labels)
                )
                / (2 * step)
                for e in np.eye(len(u))
            ]
        )
        np.testing.assert_allclose(numeric, objective.residual(u, labels), rtol=1e-5, atol=1e-4)


def test_label_checks_name_the_party_and_the_fix() -> None:
    with pytest.raises(DataError, match=r"bank: 1 labels are NaN.*row 2"):
        check_labels(np.array([1.0, 2.0, np.nan]), "real", 3, "bank")
    with pytest.raises(DataError, match=r"bank: Poisson regression needs counts.*\[0\.5\]"):
        check_labels(np.array([1.0, 0.5, 3.0]), "count", 3, "bank")
    with pytest.raises(DataError, match="one label per feature row"):
        check_labels(np.array([1.0, 2.0]), "real", 3, "bank")
    with pytest.raises(
        DataError, match=r"bank: logistic regression needs 0/1 labels.*row 1.*\[2\.0, nan\]"
    ):
        check_labels(np.array([1.0, 2.0, 0.0, np.nan]), "binary", 4, "bank")
    with pytest.raises(DataError, match="bank: expected one label per feature row"):
        check_labels(np.array([1.0, 0.0]), "binary", 3, "bank")
    np.testing.assert_array_equal(check_labels([0, 3, 7], "count", 3, "bank"), [0.0, 3.0, 7.0])
