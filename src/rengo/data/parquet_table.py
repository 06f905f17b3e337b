"""Read and write user tables as Parquet (needs the optional ``pyarrow``: ``rengo[parquet]``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

from rengo.core.errors import ConfigError, DataError, MissingExtraError
from rengo.core.install_hint import install_hint
from rengo.data.cells import check_ids, to_feature_dtype
from rengo.data.dataset import Dataset
from rengo.data.labels import Task, encode_labels

TASK_METADATA_KEY = b"rengo.task"
"""Schema metadata key where save_parquet records the table's task for load_parquet."""


def _pyarrow() -> tuple[ModuleType, ModuleType]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtraError(
            f"reading or writing Parquet needs pyarrow: {install_hint('parquet')}"
        ) from exc
    return pa, pq


def load_parquet(
    path: str | Path,
    label: str | None = "y",
    id_column: str | None = None,
    *,
    features: Sequence[str] | None = None,
    task: Task = "auto",
    dtype: type = np.float64,
    name: str | None = None,
    allow_missing: bool = False,
) -> Dataset:
    """Load a Parquet table into a :class:`Dataset` (same column rules as ``load_csv``).

    Feature columns must be numeric or boolean with finite values: a null or NaN cell is
    refused unless ``allow_missing`` (then it becomes NaN, as ``load_csv``'s
    ``missing_values``), ±Inf always. The label column may be numeric or text and must have no
    nulls. IDs (stripped of surrounding whitespace, as ``load_csv`` strips cells) must be
    non-empty and unique. With ``task="auto"``, a task recorded by
    :func:`save_parquet` is followed.

    Raises
    ------
    DataError
        Naming the file, row and column: a non-finite feature cell, a value that overflows
        float32 (``dtype=np.float32``), an integer beyond 2**53 in a feature column, a
        non-numeric feature column, a null label, a null, empty or repeated ID.
    ConfigError
        For a ``dtype`` other than float32 or float64.
    """
    pa, pq = _pyarrow()
    path = Path(path)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ConfigError(f"dtype must be float32 or float64, got {dtype}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from exc
    header = list(table.column_names)
    if len(set(header)) != len(header):
        raise DataError(f"{path}: duplicate column names in {header}")
    if table.num_rows == 0:
        raise DataError(f"{path}: table has no rows")
    for role, col in (("label", label), ("id", id_column)):
        if col is not None and col not in header:
            raise DataError(f"{path}: no {role} column {col!r}; columns are {header}")
    if features is None:
        features = [c for c in header if c not in (label, id_column)]
    else:
        features = list(features)
        unknown = [c for c in features if c not in header]
        if unknown:
            raise DataError(f"{path}: no feature columns {unknown}; columns are {header}")

    def where(i: int) -> str:
        return f"{path} row {i}"

    columns = []
    for col in features:
        column = table.column(col)
        t = column.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
            raise DataError(
                f"{path}: feature column {col!r} has type {t}, not a number; encode it or "
                "leave it out with features=[...]"
            )
        try:
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:  # an integer float64 cannot hold exactly (beyond 2**53)
            ints = np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False))
            i = int(np.flatnonzero((ints > 2**53) | (ints < -(2**53)))[0])
            raise DataError(
                f"{where(i)}: feature column {col!r} holds {int(ints[i])}, an integer beyond "
                "2**53 that float64 cannot hold exactly (an ID? pass id_column=..., or leave "
                "it out with features=[...])"
            ) from None
        columns.append(np.asarray(values, dtype=np.float64))
    X64 = np.stack(columns, axis=1) if columns else np.empty((table.num_rows, 0))
    X, bad = to_feature_dtype(X64, dtype, allow_nan=allow_missing)
    if bad is not None:
        i, k, problem = bad
        cell = table.column(features[k])[i].as_py()
        hint = (
            " (pass allow_missing=True to read null and NaN cells as NaN)"
            if cell is None or X64[i, k] != X64[i, k]
            else ""
        )
        shown = "null" if cell is None else cell
        raise DataError(f"{where(i)}: column {features[k]!r} is {shown}, {problem}{hint}")

    ids = None
    if id_column is not None:
        id_values = table.column(id_column)
        if id_values.null_count:
            raise DataError(f"{path}: id column {id_column!r} has {id_values.null_count} nulls")
        # stripped as load_csv strips its cells, so both loaders (and the PSI after them)
        # see the same IDs
        ids = np.array([str(v).strip() for v in id_values.to_pylist()], dtype=str)
        check_ids(ids, where, id_column)
    y, classes = None, None
    if label is not None:
        marker = (table.schema.metadata or {}).get(TASK_METADATA_KEY, b"").decode()
        if task == "auto" and marker in ("classification", "regression"):
            task = marker  # written by save_parquet
        column = table.column(label)
        if column.null_count:
            first = next(i for i, v in enumerate(column.to_pylist()) if v is None)
            raise DataError(
                f"{where(first)}: label column {label!r} is null ({column.null_count} rows)"
            )
        t = column.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
            raw = column.to_numpy(zero_copy_only=False)
        else:
            raw = np.array([str(v) for v in column.to_pylist()], dtype=str)
        y, classes = encode_labels(raw, task, where)
    return Dataset(
        X=X, y=y, feature_names=tuple(features), classes=classes, name=name or path.stem, ids=ids
    )


def save_parquet(
    dataset: Dataset, path: str | Path, label: str = "y", id_column: str = "id"
) -> None:
    """Write ``dataset`` as Parquet (id, label, features); class labels are written as names.

    The table's task (classification or regression) is kept in the file's schema metadata
    (``rengo.task``), which :func:`load_parquet` with ``task="auto"`` follows: a regression
    target of whole numbers reads back as a regression target, not as classes.
    """
    pa, pq = _pyarrow()
    arrays: dict[str, object] = {}
    if dataset.ids is not None:
        arrays[id_column] = pa.array(dataset.ids.tolist(), pa.string())
    if dataset.y is not None:
        if dataset.classes is not None:
            arrays[label] = pa.array([dataset.classes[c] for c in dataset.y], pa.string())
        else:
            arrays[label] = pa.array(dataset.y)
    for j, col in enumerate(dataset.feature_names):
        if col in arrays:
            raise ConfigError(f"column name {col!r} is used by both a feature and id/label")
        arrays[col] = pa.array(dataset.X[:, j])
    table = pa.table(arrays)
    if dataset.y is not None:
        task = b"classification" if dataset.is_classification else b"regression"
        metadata = {**(table.schema.metadata or {}), TASK_METADATA_KEY: task}
        table = table.replace_schema_metadata(metadata)
    pq.write_table(table, Path(path))
