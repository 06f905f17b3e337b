"""Split one table into a transfer-learning scenario: two parties with different columns,
different customers and a small overlap; labels at the source, a few at the target.

Federated transfer learning (Liu et al. 2020) starts where vertical FL cannot: the parties
share only a small part of their customers. :func:`transfer_split` makes that setting from
one table whose rows are customers: the source gets some columns and labels for all its
rows, the target the other columns and labels for only a few of its rows, and a fraction of
the customers sit at both. The target's other rows are split into rows it trains on (without
labels) and held-out rows with their true labels, to evaluate on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rengo.core.errors import ConfigError
from rengo.data.dataset import Dataset
from rengo.data.seeding import Seed, as_generator


@dataclass(frozen=True, eq=False)
class TransferParty:
    """One party's rows: IDs, feature columns and labels (``None`` where it has none)."""

    ids: np.ndarray
    X: np.ndarray
    feature_names: tuple[str, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def labelled(self) -> np.ndarray:
        """Row indices that carry a label."""
        return np.flatnonzero([label is not None for label in self.labels])


@dataclass(frozen=True, eq=False)
class TransferSplit:
    """A source, a target, and the target's held-out rows (with their labels).

    ``shared`` are the IDs at both parties (what PSI will find); ``test`` holds target rows
    neither party trains on, with every label, for evaluation.
    """

    source: TransferParty
    target: TransferParty
    test: TransferParty
    shared: np.ndarray
    classes: tuple[str, ...] | None


def transfer_split(
    dataset: Dataset,
    source_columns: Sequence[str | int],
    *,
    target_columns: Sequence[str | int] | None = None,
    overlap: float = 0.1,
    source_share: float = 0.5,
    target_labels: int = 50,
    test_size: float = 0.3,
    rows: int | None = None,
    seed: Seed = 0,
) -> TransferSplit:
    """Make a two-party transfer-learning scenario from one labelled table.

    Parameters
    ----------
    dataset
        Customers as rows, with labels and IDs (row numbers when it has none).
    source_columns
        The source's columns (names or indices).
    target_columns
        The target's columns (default: every other column).
    overlap
        Share of the (used) customers held by both parties.
    source_share
        Share of the remaining customers that are the source's only; the rest are the
        target's.
    target_labels
        How many of the target's own training rows keep their label.
    test_size
        Share of the target's own customers held out for evaluation.
    rows
        Use this many customers, drawn at random (default: all).
    seed
        Fixes every draw.

    Returns
    -------
    TransferSplit
        The source (labels on every row), the target (labels on ``target_labels`` rows,
        ``None`` elsewhere), the held-out target rows and the shared IDs.

    Raises
    ------
    ConfigError
        For unknown columns (a column is a name or a whole position), shares outside (0, 1),
        a ``target_labels`` that is not a whole number >= 0, or too few rows for the request.
    """
    if dataset.y is None:
        raise ConfigError(f"{dataset.name}: a transfer split needs a labelled table")
    for name, value in (("overlap", overlap), ("source_share", source_share)):
        if not 0 < value < 1:
            raise ConfigError(f"{name} must lie in (0, 1), got {value}")
    if not 0 < test_size < 1:
        raise ConfigError(f"test_size must lie in (0, 1), got {test_size}")
    if (
        isinstance(target_labels, bool)
        or not isinstance(target_labels, (int, np.integer))
        or target_labels < 0
    ):
        raise ConfigError(f"target_labels must be a whole number >= 0, got {target_labels!r}")
    source_cols = _columns(dataset, source_columns)
    target_cols = (
        [j for j in range(dataset.X.shape[1]) if j not in source_cols]
        if target_columns is None
        else _columns(dataset, target_columns)
    )
    if not target_cols:
        raise ConfigError("the target needs at least one column the source does not name")
    rng = as_generator(seed)
    count = len(dataset) if rows is None else int(rows)
    if not 0 < count <= len(dataset):
        raise ConfigError(f"rows must lie in 1..{len(dataset)}, got {rows}")
    order = rng.permutation(len(dataset))[:count]
    n_shared = max(1, round(overlap * count))
    n_source = round(source_share * (count - n_shared))
    shared, source_only = order[:n_shared], order[n_shared : n_shared + n_source]
    target_only = order[n_shared + n_source :]
    n_test = round(test_size * len(target_only))
    test, target_train = target_only[:n_test], target_only[n_test:]
    if n_test < 1 or target_labels > len(target_train):
        raise ConfigError(
            f"{count} rows leave the target {len(target_train)} training and {n_test} test "
            f"rows; cannot label {target_labels} of them"
        )
    ids = (
        np.asarray(dataset.ids)
        if dataset.ids is not None
        else np.array([str(i) for i in range(len(dataset))])
    )
    y = np.asarray(dataset.y)
    values = (
        np.asarray(dataset.classes, dtype=object)[y]
        if dataset.classes is not None
        else y.astype(object)
    )
    labelled = set(rng.choice(target_train, size=target_labels, replace=False).tolist())
    source_rows = np.concatenate([shared, source_only])
    target_rows = np.concatenate([shared, target_train])
    target_values = np.array(
        [values[r] if r in labelled else None for r in target_rows.tolist()], dtype=object
    )
    names = dataset.feature_names
    return TransferSplit(
        source=TransferParty(
            ids[source_rows],
            dataset.X[np.ix_(source_rows, np.asarray(source_cols, dtype=np.int64))],
            tuple(names[j] for j in source_cols),
            values[source_rows],
        ),
        target=TransferParty(
            ids[target_rows],
            dataset.X[np.ix_(target_rows, np.asarray(target_cols, dtype=np.int64))],
            tuple(names[j] for j in target_cols),
            target_values,
        ),
        test=TransferParty(
            ids[test],
            dataset.X[np.ix_(test, np.asarray(target_cols, dtype=np.int64))],
            tuple(names[j] for j in target_cols),
            values[test],
        ),
        shared=ids[shared],
        classes=dataset.classes,
    )


def _columns(dataset: Dataset, columns: Sequence[str | int]) -> list[int]:
    index = {name: j for j, name in enumerate(dataset.feature_names)}
    out = []
    for column in columns:
        if isinstance(column, str):
            if column not in index:
                raise ConfigError(f"{dataset.name} has no column {column!r}")
            out.append(index[column])
        elif (
            isinstance(column, (int, np.integer))
            and not isinstance(column, bool)
            and 0 <= column < dataset.X.shape[1]
        ):
            out.append(int(column))
        else:  # 1.7 or True were taken as column 1
            raise ConfigError(
                f"{dataset.name} has no column {column!r} (a column is a name or a position "
                f"0..{dataset.X.shape[1] - 1})"
            )
    if len(set(out)) != len(out) or not out:
        raise ConfigError("columns must be distinct and at least one")
    return out
