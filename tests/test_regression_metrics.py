"""rengo.metrics' regression metrics equal scikit-learn's and refuse bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as sk

from rengo.core.errors import DataError
from rengo.metrics import REGRESSION_SCORERS, mae, poisson_deviance, r2_score, rmse

values = arrays(np.float64, 20, elements=st.floats(-100, 100, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(truth=values, predicted=values)
def test_rmse_mae_r2_equal_scikit_learn(truth: np.ndarray, predicted: np.ndarray) -> None:
    assert rmse(truth, predicted) == pytest.approx(
        np.sqrt(sk.mean_squared_error(truth, predicted)), rel=1e-12, abs=1e-12
    )
    assert mae(truth, predicted) == pytest.approx(
        sk.mean_absolute_error(truth, predicted), rel=1e-12, abs=1e-12
    )
    assert r2_score(truth, predicted) == pytest.approx(
        sk.r2_score(truth, predicted), rel=1e-9, abs=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(
    counts=arrays(np.int64, 20, elements=st.integers(0, 30)),
    means=arrays(np.float64, 20, elements=st.floats(0.01, 40)),
)
def test_poisson_deviance_equals_scikit_learn(counts: np.ndarray, means: np.ndarray) -> None:
    assert poisson_deviance(counts, means) == pytest.approx(
        sk.mean_poisson_deviance(counts, means), rel=1e-9, abs=1e-12
    )
    assert REGRESSION_SCORERS["neg_poisson_deviance"](counts, means) == -poisson_deviance(
        counts, means
    )


def test_bad_input_is_refused_saying_what_is_wrong() -> None:
    with pytest.raises(DataError, match="same non-zero length"):
        rmse([1.0, 2.0], [1.0])
    with pytest.raises(DataError, match="NaN"):
        mae([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(DataError, match="non-negative targets"):
        poisson_deviance([-1.0, 2.0], [1.0, 2.0])
    with pytest.raises(DataError, match="positive predicted means"):
        poisson_deviance([1.0, 2.0], [0.0, 2.0])
    assert r2_score([3.0, 3.0], [3.0, 3.0]) == 1.0 == sk.r2_score([3.0, 3.0], [3.0, 3.0])
