"""Split one table by columns among vertical-FL parties, each with its own subset of row ids.

In vertical FL (Hardy et al. 2017; Yang et al. 2019) parties hold different features of
overlapping users; only the label party holds ``y``. Each party here drops its own random
rows (and shuffles row order), so their id sets differ and must be aligned (PSI) first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data.dataset import Dataset
from rengo.data.seeding import Seed, as_generator


@dataclass(frozen=True, eq=False)
class VerticalParty:
    """One party's table: row ``ids``, its feature columns, and labels if it is the label party."""

    name: str
    ids: np.ndarray
    X: np.ndarray
    feature_names: tuple[str, ...]
    y: np.ndarray | None = None
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n = self.ids.shape[0]
        if self.X.shape[0] != n or (self.y is not None and self.y.shape[0] != n):
            raise DataError(f"party {self.name!r}: ids, X and y disagree on row count")
        if self.X.shape[1] != len(self.feature_names):
            raise DataError(f"party {self.name!r}: feature names do not match X's columns")

    @property
    def has_labels(self) -> bool:
        """True for the party that holds ``y``."""
        return self.y is not None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def to_dataset(self) -> Dataset:
        """This party's table as a :class:`Dataset` (ids kept)."""
        return Dataset(
            X=self.X,
            y=self.y,
            feature_names=self.feature_names,
            classes=self.classes if self.y is not None else None,
            name=self.name,
            ids=self.ids,
        )


def _column_groups(
    dataset: Dataset, parties: int | Sequence[Sequence[str | int]]
) -> list[list[int]]:
    d = dataset.num_features
    if isinstance(parties, (int, np.integer)) and not isinstance(parties, bool):
        if not 1 <= parties <= d:
            raise ConfigError(f"{parties} parties cannot each get a column of {d} features")
        return [list(g) for g in np.array_split(np.arange(d), parties)]
    if isinstance(parties, (bool, int, np.integer)):
        raise ConfigError(f"parties must be a count or column groups, got {parties!r}")
    index = {f: j for j, f in enumerate(dataset.feature_names)}
    groups: list[list[int]] = []
    seen: set[int] = set()
    for g, group in enumerate(parties):
        cols = []
        for c in group:
            j = index.get(c) if isinstance(c, str) else int(c)
            if j is None or not 0 <= j < d:
                raise ConfigError(f"column group {g}: no feature {c!r} in {dataset.name}")
            if j in seen:
                raise ConfigError(f"column group {g}: feature {c!r} is already in another group")
            seen.add(j)
            cols.append(j)
        groups.append(cols)
    if not groups:
        raise ConfigError("vertical_split needs at least one party")
    return groups


def vertical_split(
    dataset: Dataset,
    parties: int | Sequence[Sequence[str | int]],
    seed: Seed,
    *,
    label_party: int = 0,
    drop_fraction: float | Sequence[float] = 0.0,
    shuffle: bool = True,
    names: Sequence[str] | None = None,
) -> list[VerticalParty]:
    """Give each party a group of columns and a random subset of rows.

    ``parties`` is a party count (contiguous, near-equal column groups) or explicit column
    groups (names or indices, disjoint; columns left out are dropped; only the label party's
    group may be empty). Party ``label_party`` also gets ``y``. Party ``i`` drops
    ``drop_fraction[i]`` of the rows at random (a float applies to all) and, when ``shuffle``,
    lists its rows in random order. Row ids are ``dataset.ids`` or the row numbers as text.
    """
    if dataset.y is None:
        raise DataError(f"{dataset.name}: vertical_split needs a labelled table")
    groups = _column_groups(dataset, parties)
    k = len(groups)
    if (
        isinstance(label_party, bool)
        or not isinstance(label_party, (int, np.integer))
        or not 0 <= label_party < k
    ):  # 1.5 was accepted, and no party got the labels
        raise ConfigError(f"label_party must be a party number 0..{k - 1}, got {label_party!r}")
    for i, g in enumerate(groups):
        if not g and i != label_party:
            raise ConfigError(f"party {i} has no columns; only the label party may have none")
    fractions = (
        [float(drop_fraction)] * k
        if isinstance(drop_fraction, (int, float))
        else [float(f) for f in drop_fraction]
    )
    if len(fractions) != k or not all(0.0 <= f < 1.0 for f in fractions):
        raise ConfigError(f"drop_fraction needs {k} values in [0, 1), got {drop_fraction!r}")
    names = [f"party-{i}" for i in range(k)] if names is None else [str(n) for n in names]
    if len(names) != k or len(set(names)) != k:
        raise ConfigError(f"names needs {k} distinct names, got {names!r}")
    rng = as_generator(seed)
    n = len(dataset)
    ids = dataset.ids if dataset.ids is not None else np.arange(n).astype(str)
    out = []
    for i, cols in enumerate(groups):
        keep = n - round(fractions[i] * n)
        rows = rng.choice(n, size=keep, replace=False)
        rows = rows if shuffle else np.sort(rows)
        labelled = i == label_party
        out.append(
            VerticalParty(
                name=names[i],
                ids=ids[rows],
                X=dataset.X[np.ix_(rows, np.asarray(cols, dtype=np.int64))],
                feature_names=tuple(dataset.feature_names[j] for j in cols),
                y=dataset.labels()[rows] if labelled else None,
                classes=dataset.classes if labelled else None,
            )
        )
    return out
