"""Each party's column scaling (:func:`rengo.data.dataset.column_scaling`): a column that
holds one value is only centred (scale 1), also when its mean rounds away from that value,
so a row to score a little off the training value stays a little off."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.data.dataset import column_scaling


@pytest.mark.parametrize("value", [-59.98, 0.1, 2.0, 1e6 / 3])
@pytest.mark.parametrize("empty_cell", [False, True])
def test_a_constant_column_gets_scale_1_even_when_its_mean_rounds(
    value: float, empty_cell: bool
) -> None:
    x = np.column_stack([np.full(240, value), np.arange(240.0)])
    if empty_cell:
        x[5, 0] = np.nan
    mean, scale = column_scaling(x)
    assert scale[0] == 1.0
    assert mean[0] == pytest.approx(value, rel=1e-12)
    assert scale[1] == pytest.approx(np.arange(240.0).std(), rel=1e-12)


def test_a_row_to_score_off_a_constant_training_value_stays_near_it() -> None:
    x = np.column_stack([np.full(240, -59.98), np.arange(240.0)])
    mean, scale = column_scaling(x)
    scored = (np.array([[-59.97, 3.0]]) - mean) / scale
    assert abs(scored[0, 0]) < 0.02  # was 3e10: -59.98's spread computed as 3e-13


def test_an_entirely_empty_column_is_centred_on_0_with_scale_1() -> None:
    x = np.column_stack([np.full(4, np.nan), np.arange(4.0)])
    mean, scale = column_scaling(x)
    assert (mean[0], scale[0]) == (0.0, 1.0)
