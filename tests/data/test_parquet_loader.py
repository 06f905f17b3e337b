"""Parquet loading: round trip with text labels and ids, and errors for bad columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.data import Dataset, load_iris, load_parquet, save_parquet

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def test_parquet_round_trip_keeps_values_classes_and_ids(tmp_path: Path) -> None:
    iris = load_iris()
    iris = Dataset(
        X=iris.X, y=iris.y, feature_names=iris.feature_names, classes=iris.classes,
        ids=np.array([f"r{i}" for i in range(len(iris))]), name="iris",
    )  # fmt: skip
    path = tmp_path / "iris.parquet"
    save_parquet(iris, path, label="species")
    back = load_parquet(path, label="species", id_column="id")
    np.testing.assert_array_equal(back.X, iris.X)
    np.testing.assert_array_equal(back.y, iris.y)
    np.testing.assert_array_equal(back.ids, iris.ids)
    assert back.classes == ("setosa", "versicolor", "virginica")
    assert back.feature_names == iris.feature_names


def test_parquet_nulls_become_nan_in_features_but_fail_in_labels(tmp_path: Path) -> None:
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "y": [0, 1, 0]}), path)
    data = load_parquet(path, allow_missing=True)
    assert np.isnan(data.X[1, 0]) and data.classes == ("0", "1")
    pq.write_table(pa.table({"a": [1.0, 2.0], "y": ["x", None]}), path)
    with pytest.raises(DataError, match="row 1: label column 'y' is null"):
        load_parquet(path)


def test_parquet_text_feature_and_missing_label_column_raise(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": ["x", "y"], "y": [0, 1]}), path)
    with pytest.raises(DataError, match="feature column 'a' has type string"):
        load_parquet(path)
    with pytest.raises(DataError, match="no label column 'label'"):
        load_parquet(path, label="label")


def test_non_parquet_file_raises_data_error(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_parquet(path)


@pytest.mark.parametrize(
    ("cells", "shown"),
    [
        ([1.0, None, 3.0], "null"),
        ([1.0, float("nan"), 3.0], "nan"),
        ([1.0, float("inf"), 3.0], "inf"),
    ],
)
def test_parquet_refuses_non_finite_feature_cells_like_csv(
    tmp_path: Path, cells: list[float | None], shown: str
) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"b": [0.0, 1.0, 2.0], "a": cells, "y": [0, 1, 0]}), path)
    with pytest.raises(DataError, match=rf"bad.parquet row 1: column 'a' is {shown}, not a finite"):
        load_parquet(path)
    if shown != "inf":  # the opt-in reads missing cells; Inf is never a missing value
        assert np.isnan(load_parquet(path, allow_missing=True).X[1, 1])


def test_parquet_names_a_value_that_overflows_float32(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"a": [1.0, 1e300], "y": [0, 1]}), path)
    with pytest.raises(DataError, match=r"row 1: column 'a' is 1e\+300, overflows float32"):
        load_parquet(path, dtype=np.float32)


def test_parquet_integer_beyond_float64_precision_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"a": pa.array([1, 2**62 + 1], pa.int64()), "y": [0, 1]}), path)
    with pytest.raises(
        DataError, match=r"wide.parquet row 1: feature column 'a' holds 4611686018427387905"
    ):
        load_parquet(path)


def test_parquet_ids_are_checked_like_csv_ids(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"id": ["x", ""], "a": [1.0, 2.0], "y": [0, 1]}), path)
    with pytest.raises(DataError, match=r"ids.parquet row 1: id column 'id' is empty"):
        load_parquet(path, id_column="id")
    pq.write_table(pa.table({"id": [7, 8, 7], "a": [1.0, 2.0, 3.0], "y": [0, 1, 0]}), path)
    with pytest.raises(DataError, match=r"row 2: id '7' in column 'id' repeats .*row 0"):
        load_parquet(path, id_column="id")


def test_parquet_round_trip_keeps_a_whole_number_regression_target(tmp_path: Path) -> None:
    """save_parquet then load_parquet turned diabetes (a regression target of whole numbers)
    into 214 classes; the task is now kept in the file's metadata."""
    from rengo.data import load_diabetes

    diabetes = load_diabetes()
    path = tmp_path / "d.parquet"
    save_parquet(diabetes, path)
    back = load_parquet(path)
    assert not back.is_classification and back.classes is None
    np.testing.assert_array_equal(back.y, diabetes.y)
    assert load_parquet(path, task="classification").num_classes == 214  # explicit wins


def test_parquet_ids_are_stripped_like_csv_cells(tmp_path: Path) -> None:
    """' 1' stayed ' 1' in Parquet but is '1' in a CSV, so the two never matched."""
    path = tmp_path / "ws.parquet"
    pq.write_table(pa.table({"id": [" 1", "2\t", "3"], "a": [1.0, 2.0, 3.0]}), path)
    assert load_parquet(path, label=None, id_column="id").ids.tolist() == ["1", "2", "3"]  # type: ignore[union-attr]
    pq.write_table(pa.table({"id": ["1", " 1 "], "a": [1.0, 2.0]}), path)
    with pytest.raises(DataError, match=r"row 1: id '1' in column 'id' repeats .*row 0"):
        load_parquet(path, label=None, id_column="id")
