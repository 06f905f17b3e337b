"""The in-memory table every loader returns, with a stratified split and train-only scaling."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data.categorical import CategoricalEncoding
from rengo.data.exposure import check_exposure
from rengo.data.seeding import Seed, as_generator


@dataclass(frozen=True, eq=False)
class Dataset:
    """Rows of features ``X`` (n, d) with labels ``y`` (n,) or ``None`` for a feature-only table.

    Classification labels are ``int64`` codes ``0..K-1`` into ``classes`` (the original label
    values, as strings); regression labels are ``float64`` and ``classes`` is ``None``. ``ids``
    (strings, unique) name the rows, which vertical FL needs to align parties. ``sample_shape``
    is the shape of one row before flattening (e.g. ``(28, 28)`` for an image).

    Parameters
    ----------
    X
        The features, a 2-D float32 or float64 array (rows, columns).
    y
        One label per row (integer codes when ``classes`` is given, else finite regression
        targets), or None for a table without labels.
    feature_names
        One name per column of ``X``.
    classes
        The original label values, one per code; None for regression or no labels.
    name
        What the table is called in error messages and reports.
    ids
        One unique ID per row (stored as strings), or None.
    sample_shape
        The shape of one row before flattening (its product must be the column count), or
        None.
    categories
        How a loader one-hot encoded the table's categorical columns (``region=north``...;
        see :mod:`rengo.data.categorical`), or None: pass ``categories.categories`` to
        :func:`~rengo.data.load_csv` to encode new rows into the same columns.
    exposure
        How long each row was observed (years insured: a count model's offset, ``E[y] =
        exposure * rate``), one positive finite value per row, or None. It is not a
        feature; :meth:`subset` and every partitioner keep it with its rows.

    Raises
    ------
    DataError
        If ``X`` is not a 2-D float array, the names, labels or IDs do not match its rows or
        columns, a label code is outside ``0..len(classes) - 1``, a regression label is NaN
        or infinite, IDs repeat, ``classes`` is given without labels, or an exposure
        is not one positive finite value per row (:func:`rengo.data.exposure.check_exposure`).
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: tuple[str, ...]
    classes: tuple[str, ...] | None = None
    name: str = "dataset"
    ids: np.ndarray | None = None
    sample_shape: tuple[int, ...] | None = field(default=None)
    categories: CategoricalEncoding | None = None
    exposure: np.ndarray | None = None

    def __post_init__(self) -> None:
        X = self.X
        if not isinstance(X, np.ndarray) or X.ndim != 2:
            raise DataError(f"{self.name}: X must be a 2-D numpy array, got {_describe(X)}")
        if X.dtype not in (np.float32, np.float64):
            raise DataError(f"{self.name}: X must be float32 or float64, got {X.dtype}")
        n, d = X.shape
        object.__setattr__(self, "feature_names", tuple(str(f) for f in self.feature_names))
        if len(self.feature_names) != d:
            raise DataError(
                f"{self.name}: {len(self.feature_names)} feature names for {d} feature columns"
            )
        if self.sample_shape is not None and int(np.prod(self.sample_shape)) != d:
            raise DataError(
                f"{self.name}: sample_shape {self.sample_shape} does not hold {d} values"
            )
        if self.y is not None:
            self._check_labels(n)
        elif self.classes is not None:
            raise DataError(f"{self.name}: classes given for a table without labels")
        if self.ids is not None:
            ids = np.asarray(self.ids).astype(str)
            if ids.shape != (n,):
                raise DataError(f"{self.name}: {ids.shape[0]} ids for {n} rows")
            if len(np.unique(ids)) != n:
                raise DataError(f"{self.name}: ids are not unique")
            object.__setattr__(self, "ids", ids)
        if self.exposure is not None:
            exposure = check_exposure(self.exposure, n, self.name)
            object.__setattr__(self, "exposure", exposure)

    def _check_labels(self, n: int) -> None:
        y = np.asarray(self.y)
        if y.shape != (n,):
            raise DataError(f"{self.name}: y has shape {y.shape}, expected ({n},)")
        if self.classes is None:
            y = y.astype(np.float64)
            if not np.all(np.isfinite(y)):
                raise DataError(f"{self.name}: regression labels contain NaN or Inf")
        else:
            object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
            if y.dtype.kind not in "iu":
                raise DataError(f"{self.name}: class labels must be integer codes, got {y.dtype}")
            y = y.astype(np.int64)
            if n and (y.min() < 0 or y.max() >= len(self.classes)):
                raise DataError(
                    f"{self.name}: label codes must lie in 0..{len(self.classes) - 1}, "
                    f"got {y.min()}..{y.max()}"
                )
        object.__setattr__(self, "y", y)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def __repr__(self) -> str:
        """One line a notebook can show: the table's name, size, a few column and class
        names, and which optional parts it has; not its values (``X``, ``y`` and
        ``feature_names`` hold them)."""
        parts = [
            f"name={self.name!r}",
            f"{len(self)} rows x {self.num_features} features ({_few(self.feature_names)})",
        ]
        if self.y is None:
            parts.append("no labels")
        elif self.classes is None:
            parts.append("regression target")
        else:
            parts.append(f"{_count(self.num_classes, 'class', 'classes')} ({_few(self.classes)})")
        parts += [
            label
            for label, present in (
                ("ids", self.ids is not None),
                (f"sample_shape={self.sample_shape}", self.sample_shape is not None),
                ("categories", self.categories is not None),
                ("exposure", self.exposure is not None),
            )
            if present
        ]
        return f"Dataset({', '.join(parts)})"

    @property
    def num_features(self) -> int:
        """Number of feature columns."""
        return int(self.X.shape[1])

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for regression or unlabeled tables)."""
        return 0 if self.classes is None else len(self.classes)

    @property
    def is_classification(self) -> bool:
        """True when ``y`` holds class codes."""
        return self.y is not None and self.classes is not None

    def labels(self) -> np.ndarray:
        """The label array; raises DataError for a feature-only table."""
        if self.y is None:
            raise DataError(f"{self.name}: this table has no label column")
        return self.y

    def label_counts(self) -> np.ndarray:
        """Rows per class, shape (num_classes,)."""
        if not self.is_classification:
            raise DataError(f"{self.name}: label counts need class labels")
        return np.bincount(self.labels(), minlength=self.num_classes)

    def images(self) -> np.ndarray:
        """``X`` reshaped to ``(n, *sample_shape)`` (for convolutional models)."""
        shape = self.sample_shape or (self.num_features,)
        return self.X.reshape((len(self), *shape))

    def subset(self, rows: np.ndarray, name: str | None = None) -> Dataset:
        """The rows at the given indices (or boolean mask), in that order."""
        rows = np.asarray(rows)
        return replace(
            self,
            X=self.X[rows],
            y=None if self.y is None else self.y[rows],
            ids=None if self.ids is None else self.ids[rows],
            exposure=None if self.exposure is None else self.exposure[rows],
            name=self.name if name is None else name,
        )

    def select_features(self, columns: list[str] | tuple[str, ...]) -> Dataset:
        """Only the named feature columns, in the given order."""
        index = {f: i for i, f in enumerate(self.feature_names)}
        missing = [c for c in columns if c not in index]
        if missing:
            raise DataError(f"{self.name}: no feature columns {missing}")
        cols = [index[c] for c in columns]
        return replace(self, X=self.X[:, cols], feature_names=tuple(columns), sample_shape=None)

    def train_test_split(self, test_size: float = 0.2, seed: Seed = 0) -> tuple[Dataset, Dataset]:
        """See :func:`train_test_split`."""
        return train_test_split(self, test_size, seed)


def _count(n: int, one: str, many: str) -> str:
    """``"1 class"``, ``"3 classes"``."""
    return f"{n} {one if n == 1 else many}"


def _few(names: tuple[str, ...], shown: int = 3) -> str:
    """The first names and the last, for a repr: ``a, b, c, ..., z``."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f", ..., {names[-1]}"


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    return type(value).__name__


def train_test_split(
    dataset: Dataset, test_size: float = 0.2, seed: Seed = 0
) -> tuple[Dataset, Dataset]:
    """Split rows into (train, test), stratified by class when every class has two rows or more.

    ``test_size`` is a fraction in (0, 1) or a row count. Regression and unlabeled tables, and
    label sets too thin to stratify, are split uniformly at random.

    Parameters
    ----------
    dataset
        The rows to split.
    test_size
        The test share: a float fraction in (0, 1) (rounded up to whole rows) or an int row
        count.
    seed
        An int seed or a Generator (the split is reproducible with an int).

    Returns
    -------
    tuple[Dataset, Dataset]
        ``(train, test)``: the rows of each in their original order, named
        ``<name>-train`` and ``<name>-test``.

    Raises
    ------
    ConfigError
        If ``test_size`` is neither a float nor an int, a fraction outside (0, 1), or
        leaves no row on one side; or ``seed`` is not a valid seed.
    """
    n = len(dataset)
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise ConfigError(f"test_size as a fraction must lie in (0, 1), got {test_size}")
        n_test = int(np.ceil(test_size * n))
    elif isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    else:
        raise ConfigError(f"test_size must be a float fraction or int count, got {test_size!r}")
    if not 0 < n_test < n:
        raise ConfigError(f"test_size={test_size!r} leaves no rows on one side of {n} rows")
    stratify = None
    if dataset.is_classification:
        counts = dataset.label_counts()
        present = counts[counts > 0]
        k = len(present)
        if present.min() >= 2 and k <= n_test and k <= n - n_test:
            stratify = dataset.labels()
    state = int(as_generator(seed).integers(0, 2**31 - 1))
    from sklearn.model_selection import train_test_split as _sk_split  # ~2 s: on first use

    train_rows, test_rows = _sk_split(
        np.arange(n), test_size=n_test, random_state=state, stratify=stratify
    )
    return (
        dataset.subset(np.sort(train_rows), name=f"{dataset.name}-train"),
        dataset.subset(np.sort(test_rows), name=f"{dataset.name}-test"),
    )


@dataclass(frozen=True, eq=False)
class Standardization:
    """Per-column mean and scale fitted on training rows; constant columns get scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    def apply(self, dataset: Dataset) -> Dataset:
        """``(X - mean) / scale``, keeping X's dtype."""
        if dataset.num_features != self.mean.shape[0]:
            raise DataError(
                f"{dataset.name}: {dataset.num_features} features, scaler fitted on "
                f"{self.mean.shape[0]}"
            )
        X = ((dataset.X - self.mean) / self.scale).astype(dataset.X.dtype, copy=False)
        return replace(dataset, X=X)


def column_scaling(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations of the present (non-empty) cells (1 for
    constant columns, which are only centred; 0 and 1 for entirely empty ones). A vertical
    party scales its own columns with its own training rows, so nothing leaves it.

    A column is constant when its present cells are all equal, not when its computed
    spread is 0: the mean of a constant -59.98 rounds, so its spread came out 3e-13, and a
    row to score of -59.97 read 3e10 spreads from the mean."""
    present = ~np.isnan(features)
    if present.all():
        mean, scale = features.mean(axis=0), features.std(axis=0)
        scale[_constant(features, present) | (scale == 0)] = 1.0
        return mean, scale
    # sums over the present cells without a filled-in copy of the table: a tall table's
    # copies (filled, centred, squared) cost 25 bytes a cell beside its own 8; the
    # reductions add in the order the copies' sums did, so the figures are the same
    counts = np.maximum(present.sum(axis=0), 1)
    mean = np.add.reduce(features, axis=0, where=present, initial=0.0) / counts
    squares = np.subtract(features, mean)
    np.square(squares, out=squares)
    scale = np.sqrt(np.add.reduce(squares, axis=0, where=present, initial=0.0) / counts)
    del squares
    scale[_constant(features, present) | (scale == 0)] = 1.0
    return mean, scale


def _constant(features: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Which columns hold one value in every ``present`` cell (an empty column too)."""
    largest = np.maximum.reduce(features, axis=0, where=present, initial=-np.inf)
    smallest = np.minimum.reduce(features, axis=0, where=present, initial=np.inf)
    constant: np.ndarray = ~(largest > smallest)
    return constant


def fit_standardization(dataset: Dataset) -> Standardization:
    """Fit column means and standard deviations (ignoring NaN) on one table.

    Raises
    ------
    DataError
        For a table of zero rows, or a column whose mean or standard deviation overflows
        float64 (values near 1e308, or spread beyond about 1e154), naming the column: its
        scale became 1 and every standardised row stayed huge, so every client failed.
    """
    if len(dataset) == 0:
        raise DataError(f"{dataset.name}: cannot fit a scaler on zero rows")
    X = dataset.X.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        mean, scale = column_scaling(X)
    has_values = np.isfinite(X).any(axis=0)
    overflow = np.flatnonzero(has_values & ~(np.isfinite(mean) & np.isfinite(scale)))
    if overflow.size:
        j = int(overflow[0])
        largest = float(np.nanmax(np.abs(X[:, j])))
        raise DataError(
            f"{dataset.name}: column {dataset.feature_names[j]!r} cannot be standardised: its "
            f"mean or standard deviation overflows float64 (largest value {largest:.3g}); "
            "rescale the column or leave it out"
        )
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return Standardization(mean=np.nan_to_num(mean), scale=scale)


def standardize(train: Dataset, *others: Dataset) -> tuple[Dataset, ...]:
    """Z-score ``train`` and every other table with statistics fitted on ``train`` only.

    Fitting on train only keeps test-set information out of training (no leakage).
    """
    scaler = fit_standardization(train)
    return tuple(scaler.apply(d) for d in (train, *others))
