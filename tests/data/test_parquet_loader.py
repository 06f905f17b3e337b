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
    data = load_parquet(path)
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
