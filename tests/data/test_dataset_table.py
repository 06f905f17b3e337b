"""Dataset validation, stratified splitting, train-only standardisation and the name registry."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.data import (
    Dataset,
    dataset_names,
    fit_standardization,
    load_breast_cancer,
    load_dataset,
    load_digits,
    load_iris,
    load_wine,
    standardize,
    train_test_split,
)


def test_bundled_loaders_return_real_tables_with_class_names() -> None:
    digits, cancer, wine, iris = load_digits(), load_breast_cancer(), load_wine(), load_iris()
    assert digits.X.shape == (1797, 64) and digits.images().shape == (1797, 8, 8)
    assert cancer.classes == ("malignant", "benign") and cancer.num_features == 30
    assert wine.num_classes == 3 and len(wine) == 178
    assert iris.feature_names[0] == "sepal length (cm)"
    assert iris.y.dtype == np.int64 and iris.X.dtype == np.float64


def test_registry_loads_by_name_and_lists_valid_names_on_error() -> None:
    assert load_dataset("Breast-Cancer").name == "breast_cancer"
    assert {"digits", "breast_cancer", "wine", "iris"} <= set(dataset_names())
    with pytest.raises(ConfigError, match="valid names: digits, breast_cancer, wine, iris"):
        load_dataset("cifar10")


def test_stratified_split_keeps_class_shares_and_covers_rows_once() -> None:
    data = load_breast_cancer()
    data = Dataset(
        X=data.X, y=data.y, feature_names=data.feature_names, classes=data.classes,
        ids=np.arange(len(data)).astype(str), name="bc",
    )  # fmt: skip
    train, test = train_test_split(data, 0.25, seed=0)
    assert len(test) == 143 and len(train) == 569 - 143
    assert sorted(np.concatenate([train.ids, test.ids]).astype(int)) == list(range(569))
    share = data.label_counts() / len(data)
    np.testing.assert_allclose(test.label_counts() / len(test), share, atol=0.01)
    again, _ = data.train_test_split(0.25, seed=0)
    np.testing.assert_array_equal(again.ids, train.ids)
    other, _ = data.train_test_split(0.25, seed=1)
    assert not np.array_equal(other.ids, train.ids)


def test_split_falls_back_to_random_when_a_class_has_one_row() -> None:
    X = np.zeros((10, 1))
    y = np.array([0] * 9 + [1])
    train, test = train_test_split(
        Dataset(X=X, y=y, feature_names=("a",), classes=("p", "q")), 3, seed=0
    )
    assert len(train) == 7 and len(test) == 3


def test_split_rejects_sizes_that_empty_a_side() -> None:
    with pytest.raises(ConfigError):
        train_test_split(load_iris(), 1.0, seed=0)
    with pytest.raises(ConfigError):
        train_test_split(load_iris(), 150, seed=0)


def test_standardize_fits_on_train_only() -> None:
    train = Dataset(X=np.array([[0.0, 5.0], [2.0, 5.0]]), y=None, feature_names=("a", "b"))
    test = Dataset(X=np.array([[4.0, 7.0]]), y=None, feature_names=("a", "b"))
    scaled_train, scaled_test = standardize(train, test)
    np.testing.assert_array_equal(scaled_train.X, [[-1.0, 0.0], [1.0, 0.0]])
    # test uses train's mean 1 and sd 1; the constant column b keeps scale 1
    np.testing.assert_array_equal(scaled_test.X, [[3.0, 2.0]])
    scaler = fit_standardization(train)
    np.testing.assert_array_equal(scaler.scale, [1.0, 1.0])


def test_a_constant_column_keeps_scale_1_when_its_mean_rounds() -> None:
    """The mean of 7 cells of -59.98 rounds away from -59.98, so the column's spread came
    out ~1e-14, not 0, and a test row of -59.97 was standardised to ~1e12 (the same defect
    as the vertical parties' column scaling had)."""
    x = np.column_stack([np.full(7, -59.98), np.arange(7.0)])
    train = Dataset(X=x, y=None, feature_names=("a", "b"))
    scaler = fit_standardization(train)
    assert scaler.scale[0] == 1.0
    test = Dataset(X=np.array([[-59.97, 3.0]]), y=None, feature_names=("a", "b"))
    (_, scaled_test) = standardize(train, test)
    assert abs(scaled_test.X[0, 0] - 0.01) < 1e-9


def test_standardize_keeps_float32() -> None:
    data = Dataset(X=np.ones((3, 2), np.float32), y=None, feature_names=("a", "b"))
    assert standardize(data)[0].X.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"X": np.zeros(3)}, "2-D"),
        ({"X": np.zeros((3, 2), dtype=np.int64)}, "float32 or float64"),
        ({"feature_names": ("a",)}, "1 feature names for 2"),
        ({"y": np.array([0, 1])}, "shape"),
        ({"y": np.array([0, 1, 5])}, "0..1"),
        ({"y": np.array([0.0, 1.0, 0.0])}, "integer codes"),
        ({"ids": np.array(["a", "a", "b"])}, "not unique"),
    ],
)
def test_inconsistent_tables_raise_data_error(kwargs: dict, message: str) -> None:
    base = {
        "X": np.zeros((3, 2)),
        "y": np.array([0, 1, 0]),
        "feature_names": ("a", "b"),
        "classes": ("n", "p"),
    }
    with pytest.raises(DataError, match=message):
        Dataset(**{**base, **kwargs})


def test_regression_labels_must_be_finite() -> None:
    with pytest.raises(DataError, match="NaN"):
        Dataset(X=np.zeros((2, 1)), y=np.array([1.0, np.nan]), feature_names=("a",))


@pytest.mark.parametrize("huge", [1e308, 1e200])
def test_standardisation_that_overflows_is_refused_naming_the_column(huge: float) -> None:
    """The scale overflowed to inf and silently became 1: every standardised row stayed
    ~1e306 and every client failed with 'array 0 contains NaN or Inf', naming nothing."""
    from rengo.data.dataset import fit_standardization

    X = np.array([[1.0, 2.0], [huge, 3.0], [-huge, 4.0], [5.0, 6.0]])
    table = Dataset(X=X, y=np.array([0, 1, 0, 1]), feature_names=("big", "ok"), classes=("a", "b"))
    with pytest.raises(
        DataError, match=r"column 'big' cannot be standardised: .* overflows float64"
    ):
        fit_standardization(table)
    fine = Dataset(X=X[:, ::-1] * 0 + 1e150, y=None, feature_names=("a", "b"))
    assert np.isfinite(fit_standardization(fine).scale).all()
