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


def _scaling_with_copies(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scaling as rengo computed it through filled-in copies of the table (before it
    summed the present cells in place), to check the figures did not move."""
    present = ~np.isnan(x)
    counts = np.maximum(present.sum(axis=0), 1)
    mean = np.where(present, x, 0.0).sum(axis=0) / counts
    scale = np.sqrt((np.where(present, x - mean, 0.0) ** 2).sum(axis=0) / counts)
    largest = np.where(present, x, -np.inf).max(axis=0, initial=-np.inf)
    smallest = np.where(present, x, np.inf).min(axis=0, initial=np.inf)
    scale[~(largest > smallest) | (scale == 0)] = 1.0
    return mean, scale


@pytest.mark.parametrize(
    ("rows", "columns", "empty"), [(3, 2, 0.3), (1000, 7, 0.01), (37, 300, 0.5), (20_000, 13, 0.05)]
)
def test_scaling_a_table_with_empty_cells_gives_the_figures_the_filled_copies_gave(
    rows: int, columns: int, empty: float
) -> None:
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(rows, columns)) * rng.uniform(0.1, 1000, columns) + 50
    x[rng.random(x.shape) < empty] = np.nan
    x[:, 0] = -59.98
    x[0, 0] = np.nan
    mean, scale = column_scaling(x)
    expected_mean, expected_scale = _scaling_with_copies(x)
    assert np.array_equal(mean, expected_mean) and np.array_equal(scale, expected_scale)


def test_scaling_a_tall_table_with_empty_cells_holds_no_filled_copies_of_it() -> None:
    """A bank's 1M x 100 table is 800 MB; its scaling made three more copies (filled,
    centred, squared) and two more for the constant-column check: 3.3 GB for 0.8 on a
    party's 4-8 GiB VM. Now one centred copy (and a mask of a byte a cell)."""
    import tracemalloc

    x = np.random.default_rng(0).normal(size=(20_000, 50))
    x[::97, 3] = np.nan
    tracemalloc.start()
    try:
        column_scaling(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * x.nbytes, f"{peak / x.nbytes:.2f}x the table"


def test_a_party_s_table_is_standardised_in_the_memory_it_was_read_into(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """load_party_data standardises the table it has just read in place: its peak is the
    reader's (about twice the table while the parsed chunks are joined), not the table,
    its scaled copy and the scaling's copies."""
    import tracemalloc

    from rengo.data.csv_export import write_csv
    from rengo.deploy.vertical_data import load_party_data

    rng = np.random.default_rng(1)
    rows, columns = 20_000, 100
    cells = np.char.mod("%.4g", rng.normal(size=(rows, columns)))
    cells[rng.random(cells.shape) < 0.01] = ""
    path = tmp_path / "bank.csv"
    ids = [f"{i:012d}" for i in range(rows)]
    write_csv(
        path,
        ["id", *(f"x{j}" for j in range(columns))],
        ([i, *row] for i, row in zip(ids, cells.tolist(), strict=True)),
    )
    load_party_data(path, "id")  # imports done, so only the load is traced
    tracemalloc.start()
    try:
        party = load_party_data(path, "id")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert party.table is not None
    table = party.table.features.nbytes
    unscaled = load_party_data(path, "id", standardize=False).table
    assert unscaled is not None and party.mean is not None and party.scale is not None
    assert np.array_equal(
        party.table.features, (unscaled.features - party.mean) / party.scale, equal_nan=True
    )
    assert peak < 3 * table, f"{peak / table:.2f}x the table"
