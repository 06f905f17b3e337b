"""The column scaling of a table read in chunks (two passes, never held whole) is bit for
bit ``column_scaling`` of the whole table: whatever the width, the chunk sizes, empty
cells, constant, entirely empty and negative-zero columns."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rengo.data.dataset import column_scaling
from rengo.data.running_scaling import RunningScaling


def chunked_scaling(x: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    running = RunningScaling(x.shape[1])
    cuts = np.cumsum([0, *sizes])
    for start, stop in itertools.pairwise(cuts):
        running.add_sums(x[start:stop].copy())
    for start, stop in itertools.pairwise(cuts):
        running.add_squares(x[start:stop].copy())
    return running.scaling()


def table(rng: np.random.Generator, rows: int, columns: int, empty: float) -> np.ndarray:
    x = rng.normal(size=(rows, columns)) * 10.0 ** rng.integers(-3, 6, columns) + 1e3
    x[rng.random(x.shape) < empty] = np.nan
    return x


@pytest.mark.parametrize("columns", [1, 2, 3, 17, 100])
@pytest.mark.parametrize("empty", [0.0, 0.05])
def test_chunked_scaling_is_column_scaling_bit_for_bit(columns: int, empty: float) -> None:
    rng = np.random.default_rng(columns)
    for rows in (1, 7, 1000, 20_011):
        x = table(rng, rows, columns, empty)
        sizes = []
        left = rows
        while left:
            sizes.append(min(left, int(rng.integers(1, 3000))))
            left -= sizes[-1]
        mean, scale = column_scaling(x.copy())
        got_mean, got_scale = chunked_scaling(x, sizes)
        assert got_mean.tobytes() == mean.tobytes()
        assert got_scale.tobytes() == scale.tobytes()


def test_constant_empty_and_negative_zero_columns_scale_as_in_one_table() -> None:
    rng = np.random.default_rng(0)
    x = table(rng, 5000, 5, 0.0)
    x[:, 0] = -0.0
    x[:, 1] = -59.98  # a constant whose computed spread is not 0
    x[:, 2] = np.nan
    x[::7, 3] = np.nan
    mean, scale = column_scaling(x.copy())
    got_mean, got_scale = chunked_scaling(x, [1, 999, 2500, 1500])
    assert got_mean.tobytes() == mean.tobytes()
    assert got_scale.tobytes() == scale.tobytes()
    assert scale[1] == 1.0 and scale[2] == 1.0
