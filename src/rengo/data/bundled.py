"""Small classic datasets bundled with scikit-learn, so demos and tests always have real data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import datasets as _sk

from rengo.core.errors import ConfigError
from rengo.data.dataset import Dataset


def _from_bunch(bunch: object, name: str, classification: bool = True) -> Dataset:
    X = np.asarray(bunch.data, dtype=np.float64)  # type: ignore[attr-defined]
    names = getattr(bunch, "feature_names", None)
    if names is None or len(names) != X.shape[1]:
        names = [f"x{i}" for i in range(X.shape[1])]
    if classification:
        y = np.asarray(bunch.target, dtype=np.int64)  # type: ignore[attr-defined]
        classes = tuple(str(c) for c in bunch.target_names)  # type: ignore[attr-defined]
    else:
        y = np.asarray(bunch.target, dtype=np.float64)  # type: ignore[attr-defined]
        classes = None
    return Dataset(X=X, y=y, feature_names=tuple(names), classes=classes, name=name)


def load_digits() -> Dataset:
    """UCI optical digits: 1,797 8×8 images (values 0-16), 10 classes."""
    data = _from_bunch(_sk.load_digits(), "digits")
    return Dataset(
        X=data.X,
        y=data.y,
        feature_names=data.feature_names,
        classes=data.classes,
        name="digits",
        sample_shape=(8, 8),
    )


def load_breast_cancer() -> Dataset:
    """Breast Cancer Wisconsin (Diagnostic): 569 rows, 30 features, malignant/benign."""
    return _from_bunch(_sk.load_breast_cancer(), "breast_cancer")


def load_wine() -> Dataset:
    """UCI wine recognition: 178 rows, 13 features, 3 cultivars."""
    return _from_bunch(_sk.load_wine(), "wine")


def load_iris() -> Dataset:
    """Fisher's iris: 150 rows, 4 features, 3 species."""
    return _from_bunch(_sk.load_iris(), "iris")


def load_diabetes() -> Dataset:
    """Diabetes progression (Efron et al. 2004): 442 rows, 10 features, regression target."""
    return _from_bunch(_sk.load_diabetes(), "diabetes", classification=False)


def _load_mnist_test() -> Dataset:
    from rengo.data.shared import load_mnist_test

    return load_mnist_test()


DATASETS: dict[str, Callable[[], Dataset]] = {
    "digits": load_digits,
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "iris": load_iris,
    "diabetes": load_diabetes,
    "mnist_test": _load_mnist_test,
}


def dataset_names() -> tuple[str, ...]:
    """Names :func:`load_dataset` accepts."""
    return tuple(DATASETS)


def load_dataset(name: str) -> Dataset:
    """Load a named dataset (``digits``, ``breast_cancer``, ``wine``, ``iris``, ...)."""
    key = str(name).strip().lower().replace("-", "_")
    loader = DATASETS.get(key)
    if loader is None:
        raise ConfigError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)} "
            "(or use load_csv/load_parquet for your own table)"
        )
    return loader()
