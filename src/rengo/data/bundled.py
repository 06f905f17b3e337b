"""Small real datasets that ship with rengo or scikit-learn, so demos and tests always have
real data: scikit-learn's classics and a 5,000-customer sample of the UCI credit-card
default table (CC BY 4.0; see ``bundled_data/UCI_CREDIT_CARD.md``)."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data.dataset import Dataset


def _sklearn_datasets() -> Any:
    """scikit-learn's dataset loaders, imported when a dataset is first loaded (importing
    scikit-learn takes ~2 s that importers of :mod:`rengo.data` need not pay)."""
    from sklearn import datasets

    return datasets


def _from_bunch(bunch: object, name: str, classification: bool = True) -> Dataset:
    X = np.asarray(bunch.data, dtype=np.float64)  # type: ignore[attr-defined]
    names = getattr(bunch, "feature_names", None)
    if names is None or len(names) != X.shape[1]:
        names = [f"x{i}" for i in range(X.shape[1])]
    if classification:
        y = np.asarray(bunch.target, dtype=np.int64)  # type: ignore[attr-defined]
        classes = tuple(str(c) for c in bunch.target_names)  # type: ignore[attr-defined]
    else:
        y = np.asarray(bunch.target, dtype=np.float64)  # type: ignore[attr-defined,arg-type]
        classes = None
    return Dataset(X=X, y=y, feature_names=tuple(names), classes=classes, name=name)


def load_digits() -> Dataset:
    """UCI optical digits: 1,797 8×8 images (values 0-16), 10 classes.

    Returns
    -------
    Dataset
        64 pixel columns (``sample_shape`` (8, 8)) and the digit of each image, from
        scikit-learn's bundled copy (no download).
    """
    data = _from_bunch(_sklearn_datasets().load_digits(), "digits")
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
    return _from_bunch(_sklearn_datasets().load_breast_cancer(), "breast_cancer")


def load_wine() -> Dataset:
    """UCI wine recognition: 178 rows, 13 features, 3 cultivars."""
    return _from_bunch(_sklearn_datasets().load_wine(), "wine")


def load_iris() -> Dataset:
    """Fisher's iris: 150 rows, 4 features, 3 species."""
    return _from_bunch(_sklearn_datasets().load_iris(), "iris")


def load_diabetes() -> Dataset:
    """Diabetes progression (Efron et al. 2004): 442 rows, 10 features, regression target."""
    return _from_bunch(_sklearn_datasets().load_diabetes(), "diabetes", classification=False)


CREDIT_LABEL = "default.payment.next.month"
CREDIT_SAMPLE = "uci_credit_card_5000.csv.gz"
CREDIT_ATTRIBUTION = (
    "Default of Credit Card Clients, I-Cheng Yeh, UCI Machine Learning Repository "
    "(doi:10.24432/C55S3H), CC BY 4.0"
)
"""Who made the credit table and under which licence (for every place it is shown)."""


def _credit_rows(text: str, name: str) -> Dataset:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    values = np.array([[float(v) for v in row] for row in reader if row], dtype=np.float64)
    where = {column: k for k, column in enumerate(header)}
    if "ID" not in where or CREDIT_LABEL not in where:
        raise DataError(f"{name}: needs the columns ID and {CREDIT_LABEL}; it has {header}")
    features = [c for c in header if c not in ("ID", CREDIT_LABEL)]
    return Dataset(
        X=values[:, [where[c] for c in features]],
        y=values[:, where[CREDIT_LABEL]].astype(np.int64),
        feature_names=tuple(features),
        classes=("no default", "default"),
        name=name,
        ids=np.array([f"customer-{int(i):05d}" for i in values[:, where["ID"]]]),
    )


def load_credit_default(full: bool = False) -> Dataset:
    """Default of credit card clients (Yeh & Lien 2009): 23 columns about a customer and
    whether they defaulted the next month.

    Parameters
    ----------
    full
        Read all 30,000 customers from the shared data folder (``fate/UCI_Credit_Card.csv``);
        by default the 5,000-customer sample that ships with rengo.

    Returns
    -------
    Dataset
        Ids ``customer-NNNNN`` (the table's ID), the original column names, labels
        0 (no default) / 1 (default).

    Raises
    ------
    DataError
        ``full`` and the shared table is absent (the message says where it was looked for).
    """
    if full:
        from rengo.data.shared import shared_data_dir

        path = shared_data_dir("fate") / "UCI_Credit_Card.csv"
        if not path.is_file():
            raise DataError(f"no {path}: the full credit table is not in the shared data folder")
        return _credit_rows(path.read_text(encoding="utf-8"), "credit_default_full")
    packed = resources.files("rengo.data").joinpath("bundled_data", CREDIT_SAMPLE)
    text = gzip.decompress(packed.read_bytes()).decode("utf-8")
    return _credit_rows(text, "credit_default")


def _load_mnist_test() -> Dataset:
    from rengo.data.shared import load_mnist_test

    return load_mnist_test()


DATASETS: dict[str, Callable[[], Dataset]] = {
    "digits": load_digits,
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "iris": load_iris,
    "diabetes": load_diabetes,
    "credit_default": load_credit_default,
    "mnist_test": _load_mnist_test,
}


def dataset_names() -> tuple[str, ...]:
    """Names :func:`load_dataset` accepts.

    Returns
    -------
    tuple[str, ...]
        The bundled datasets' names, in registration order.
    """
    return tuple(DATASETS)


def load_dataset(name: str) -> Dataset:
    """Load a named dataset (``digits``, ``breast_cancer``, ``wine``, ``iris``, ...).

    Parameters
    ----------
    name
        One of :func:`dataset_names` (case-insensitive; ``-`` reads as ``_``).

    Returns
    -------
    Dataset
        The dataset, loaded as its own loader (e.g. :func:`load_digits`) loads it.

    Raises
    ------
    ConfigError
        If no bundled dataset has that name (the message lists them).
    """
    key = str(name).strip().lower().replace("-", "_")
    loader = DATASETS.get(key)
    if loader is None:
        raise ConfigError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)} "
            "(or use load_csv/load_parquet for your own table)"
        )
    return loader()
