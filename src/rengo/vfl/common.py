"""What every vertical algorithm shares: party tables, vertically split data, batch order.

A vertical federation is a label party (the guest: labels and some columns) and feature
parties (hosts: more columns of the same customers), each holding a :class:`PartyTable`
(record IDs and a feature matrix). Rows are aligned by private set intersection inside the
run (:mod:`rengo.vfl.runner`); mini-batches follow one order every party derives from the
seed agreed at set-up (:func:`batch_order`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.roles import validate_party_name
from rengo.data import Standardization
from rengo.data.categorical import CategoricalEncoding
from rengo.data.dataset import column_scaling
from rengo.vfl.exposure_values import check_exposure
from rengo.vfl.psi import PSIResult, private_set_intersection, require_nonempty
from rengo.vfl.selection_settings import JobSelection


@dataclass(frozen=True)
class PartyTable:
    """One party's rows: record IDs and a feature matrix with one row per ID.

    Parameters
    ----------
    ids
        Record IDs (str, int or bytes; see :func:`rengo.vfl.psi.normalise_ids`).
    features
        A 2-D matrix, one row per ID (converted to float64).

    Raises
    ------
    DataError
        If ``features`` is not 2-D or its row count differs from the number of IDs.
    """

    ids: Sequence[Any] | np.ndarray
    features: np.ndarray

    def __post_init__(self) -> None:
        try:
            features = np.asarray(self.features, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(_not_numeric(self.features)) from None
        if features.ndim != 2:
            raise DataError(f"features must be 2-D, got shape {features.shape}")
        if len(self.ids) != len(features):
            raise DataError(f"{len(self.ids)} IDs for {len(features)} feature rows")
        object.__setattr__(self, "features", features)

    def __len__(self) -> int:
        return len(self.ids)


def _not_numeric(features: Any) -> str:
    """Which cell of a feature table is not a number, and the fix."""
    cells = np.asarray(features, dtype=object)
    if cells.ndim == 2:
        for (i, j), value in np.ndenumerate(cells):
            try:
                float(value)
            except (TypeError, ValueError):
                return (
                    f"column {j} holds {value!r} (row {i}), which is not a number: encode "
                    "categories as numbers first (e.g. one column per category) or drop the "
                    "column; leave missing cells empty (NaN)"
                )
    return "features must be a 2-D table of numbers"


@dataclass(frozen=True)
class ColumnCells:
    """What :func:`check_columns` needs to know of a table's columns, so that a table read
    in chunks (a deployed party's, read whole only after PSI) is checked as a whole one:
    per column, whether a cell is infinite, how many cells are empty, and the row of the
    first empty one (-1: none), over ``rows`` rows."""

    infinite: np.ndarray
    empty: np.ndarray
    first_empty: np.ndarray
    rows: int

    @staticmethod
    def of(features: np.ndarray, start: int = 0) -> ColumnCells:
        """The cells of ``features``, whose first row is the table's row ``start``."""
        empty = np.isnan(features)
        counts = empty.sum(axis=0)
        first = np.full(features.shape[1], -1, dtype=np.int64)
        if len(features):
            first = np.where(counts > 0, empty.argmax(axis=0) + start, -1)
        return ColumnCells(np.isinf(features).any(axis=0), counts, first, len(features))

    def then(self, later: ColumnCells) -> ColumnCells:
        """These rows followed by ``later``'s (whose ``first_empty`` count from its own
        start in the table)."""
        first = np.where(self.first_empty >= 0, self.first_empty, later.first_empty)
        return ColumnCells(
            self.infinite | later.infinite,
            self.empty + later.empty,
            first,
            self.rows + later.rows,
        )


def check_columns(
    party: str,
    table: PartyTable,
    names: Sequence[str] = (),
    *,
    missing_ok: bool,
    algorithm: str,
    what: str = "training table",
    empty_columns_ok: bool = False,
    fix: str = "or train algorithm='secureboost', which learns where missing values go",
    cells: ColumnCells | None = None,
) -> None:
    """Refuse a table the algorithm cannot use, naming the party, the column and the fix.

    ``cells``: what the table's columns hold, when its ``features`` are not read yet (a
    deployed party reads its shared rows after PSI; ``table`` then holds the IDs).

    Raises
    ------
    DataError
        For an entirely empty column (unless ``empty_columns_ok``), infinite values, or
        empty cells when ``missing_ok`` is False.
    """
    if cells is None:
        if not table.features.size:
            return
        cells = ColumnCells.of(table.features)
    if not cells.rows or not len(cells.empty):
        return

    def column(j: int) -> str:
        return repr(names[j]) if j < len(names) else str(j)

    if cells.infinite.any():
        j = int(np.flatnonzero(cells.infinite)[0])
        raise DataError(
            f"{party}: column {column(j)} of its {what} holds infinite values; replace them "
            "with finite numbers (or leave the cells empty)"
        )
    whole = cells.empty == cells.rows
    if whole.any() and not empty_columns_ok:
        j = int(np.flatnonzero(whole)[0])
        raise DataError(
            f"{party}: column {column(j)} of its {what} is entirely empty; drop it from the "
            "party's columns (or fill it) before training"
        )
    if not missing_ok and cells.empty.any():
        j = int(np.flatnonzero(cells.empty)[0])
        first = int(cells.first_empty[j])  # this error stays with the party
        raise DataError(
            f"{party}: column {column(j)} of its {what} has {int(cells.empty[j])} empty "
            f"cells (the first at ID {table.ids[first]!s}, row {first + 1}); {algorithm} "
            f"needs every cell: fill (impute) them first, {fix}"
        )


def require_trained_columns(matrix: np.ndarray, columns: int | None, party: str) -> np.ndarray:
    """``matrix`` if it has the ``columns`` its party trained on (``None``: not known), so
    that no model scores a table against the wrong coefficients, splits or encoder.

    Raises
    ------
    DataError
        Naming the party and both counts.
    """
    if columns is not None and matrix.shape[1] != columns:
        raise DataError(f"{party}: {matrix.shape[1]} columns to score, trained on {columns}")
    return matrix


@dataclass(frozen=True)
class VerticalDataset:
    """Vertically split data: each party's table, who holds the labels, and the labels
    (aligned with the label party's rows; ``None`` when only scoring); ``feature_names``
    names a party's columns where they have names (e.g. a job file's CSV header; parties
    not in it have none), for what the party reports about its own columns; ``later``
    reads a party's features after PSI where its table holds only IDs.

    Raises
    ------
    ConfigError
        If the label party is not one of the parties, there is no feature party, or a party
        name breaks the one party-name rule (:func:`~rengo.core.roles.validate_party_name`:
        1-64 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit, and not the
        coordinator's).
    DataError
        If the labels do not match the label party's rows.
    """

    parties: Mapping[str, PartyTable]
    label_party: str
    labels: np.ndarray | None = None
    feature_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    later: Mapping[str, FeaturesAfterPsi] = field(default_factory=dict)
    """Where a party's features are read once PSI has named its shared rows (its table
    then holds every row's ID and no columns): a job's CSV party in ``rengo run``."""
    exposure: np.ndarray | None = None
    """The label party's exposure, one positive value per row like ``labels`` (a count
    model's known factor of the mean, see :mod:`rengo.vfl.exposure_values`); it never
    leaves the label party. ``None``: every row observed for one unit."""

    def __post_init__(self) -> None:
        for name in self.parties:
            validate_party_name(name, "vertical party name")
        if self.label_party not in self.parties:
            raise ConfigError(f"label party {self.label_party!r} is not in {sorted(self.parties)}")
        if len(self.parties) < 2:
            raise ConfigError("vertical learning needs the label party and at least one host")
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.ndim != 1:
                raise DataError(
                    f"{self.label_party}: labels must be one value per row, got shape "
                    f"{labels.shape} (pass y.ravel() for a column)"
                )
            rows = len(self.parties[self.label_party].ids)
            if labels.shape != (rows,):
                raise DataError(
                    f"{self.label_party}: labels need one entry per row of the label party, "
                    f"got {len(labels)} labels for its {rows} rows"
                )
        for name, names in self.feature_names.items():
            refuse_repeated_names(name, names)
        if self.exposure is not None:
            rows = len(self.parties[self.label_party].ids)
            object.__setattr__(
                self, "exposure", check_exposure(self.exposure, rows, self.label_party)
            )

    @property
    def hosts(self) -> list[str]:
        """The feature parties, in a fixed order."""
        return [name for name in self.parties if name != self.label_party]


@dataclass(frozen=True)
class HeldOutRule:
    """Which customers a vertical job holds out to score after training: each party hashes
    its own IDs with the job's ``seed`` and holds out those below ``test_size``
    (:func:`rengo.jobs.vertical.held_out`), so that every party holds out the same customers
    only if every party's job file has the same ``seed`` and ``test_size``.

    A deployed coordinator started from a job sends its rule in the plan, and a party whose
    own job file has another is refused before PSI: with different rules the parties train
    and score on different customers, and PSI then joins only those both happen to keep.
    """

    seed: int
    test_size: float

    def describe(self) -> str:
        """The rule as a job file writes it: ``job.seed = 1, vfl.test_size = 0.2``."""
        return f"job.seed = {self.seed}, vfl.test_size = {self.test_size:g}"

    def to_wire(self) -> dict[str, Any]:
        """A codec-friendly dict."""
        return {"seed": self.seed, "test_size": self.test_size}

    @classmethod
    def from_wire(cls, tree: Any) -> HeldOutRule | None:
        """The rule a plan carries, or ``None`` if ``tree`` is not one (the caller names
        what is malformed)."""
        if not isinstance(tree, dict) or set(tree) != {"seed", "test_size"}:
            return None
        seed, size = tree["seed"], tree["test_size"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            return None
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 < size < 1:
            return None
        return cls(seed, float(size))


@dataclass(frozen=True)
class PartyData:
    """One party's inputs to a vertical run, as it holds them.

    ``table`` is what it trains on (``None`` when it only scores), ``labels`` (the label
    party only: one per row of ``table``) never leave it, ``score_table`` holds new rows to
    score after training. The
    rest says how the columns were prepared (kept with the party's model), for the label
    party, the true labels of the scored rows when it has them (for its own evaluation), and
    the job's rule that held those rows out (checked against the coordinator's).
    """

    table: PartyTable | None = None
    labels: np.ndarray | None = None
    score_table: PartyTable | None = None
    score_labels: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] = ()
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    held_out: HeldOutRule | None = None
    """How a job chose the scored rows (``None``: they were given, not held out)."""
    later: FeaturesAfterPsi | None = None
    """Where ``table``'s features come from when they are read only once PSI has named the
    shared rows (``table`` then holds every row's ID and no columns); ``None``: ``table``
    holds them."""
    score_later: FeaturesAfterPsi | None = None
    """Likewise for ``score_table``: its features read once scoring's PSI has named the
    rows every party holds, z-scored as the table's would be; ``None``: ``score_table``
    holds them."""
    categories: CategoricalEncoding | None = None
    """How the party one-hot encoded its text columns (:mod:`rengo.data.categorical`),
    kept with its model so that new rows to score are encoded into the same columns; it
    never leaves the party."""
    exposure: np.ndarray | None = None
    """The label party's exposure of each row of ``table`` (a count model's known factor of
    the mean, :mod:`rengo.vfl.exposure_values`); like its labels it never leaves it."""
    score_exposure: np.ndarray | None = None
    """The exposure of each row of ``score_table`` (the label party's held-out evaluation:
    the expected count of a row is its exposure times the predicted rate)."""
    selection: JobSelection | None = None
    """What the party's own job file says of selection by IV, checked against the
    coordinator's plan before PSI; ``None``: it read no job file and follows the plan."""
    rows_chosen_by: str = ""
    """The job settings besides its table that chose ``table``'s rows, named when a
    checkpoint's training table differs from it (e.g. a default that changed since the run
    began); empty: none to name."""


class FeaturesAfterPsi(Protocol):
    """A party's training (or scoring) features read after PSI: only the rows every party
    holds, so that a party of millions of rows, few of them shared, never holds the others'
    cells. What :func:`check_columns` needs of every row is known before (``cells``)."""

    @property
    def cells(self) -> ColumnCells:
        """Every row's columns, as :func:`check_columns` checks them."""
        ...

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The prepared (scaled, where the party scales) feature rows ``rows`` (indices
        into the table's IDs), in that order; a DataError if the source changed since its
        IDs were read."""
        ...


PartyInput = Mapping[str, "PartyTable | tuple[Sequence[Any] | np.ndarray, np.ndarray]"]
"""``{name: PartyTable}`` or ``{name: (ids, features)}``, as estimators accept it."""


def as_vertical_dataset(
    data: VerticalDataset | PartyInput, label_party: str | None, labels: Any = None
) -> VerticalDataset:
    """Accept a :class:`VerticalDataset` or ``{name: (ids, X)}`` plus the label party.

    Raises
    ------
    ConfigError
        If ``data`` is a mapping and ``label_party`` is missing.
    """
    if isinstance(data, VerticalDataset):
        return data
    if label_party is None:
        raise ConfigError("label_party is required when passing {name: (ids, X)}")
    tables = {}
    for name, table in data.items():
        try:
            tables[name] = table if isinstance(table, PartyTable) else PartyTable(*table)
        except DataError as exc:
            raise DataError(f"{name}: {exc}") from None
    return VerticalDataset(tables, label_party, None if labels is None else np.asarray(labels))


def column_names(data: VerticalDataset | PartyInput, party: str) -> tuple[str, ...]:
    """The names of ``party``'s columns where they are known (a :class:`VerticalDataset`'s
    ``feature_names``, a pandas DataFrame's ``columns``), else ``()`` (a
    :class:`PartyTable` or a plain array names none)."""
    if isinstance(data, VerticalDataset):
        return tuple(data.feature_names.get(party, ()))
    table = data[party]
    if isinstance(table, PartyTable):
        return ()
    columns = getattr(table[1], "columns", None)
    names = () if columns is None else tuple(str(c) for c in columns)
    refuse_repeated_names(party, names)
    return names


def refuse_repeated_names(party: str, names: Sequence[str]) -> None:
    """Refuse a party's column names that name one column twice: its model, its IVs and
    its run's record would show two columns under one name.

    Raises
    ------
    DataError
        Naming the party and the first repeated name.
    """
    seen: set[str] = set()
    for j, name in enumerate(names):
        if name in seen:
            raise DataError(
                f"{party}: column {name!r} is named twice (columns {names.index(name)} and "
                f"{j}); name each column once, or drop the copy"
            )
        seen.add(name)


def require_identical_ids(dataset: VerticalDataset) -> None:
    """For runs without PSI: every party must list the label party's IDs in its order.

    Raises
    ------
    DataError
        Naming the first party whose IDs differ.
    """
    reference = list(dataset.parties[dataset.label_party].ids)
    for name, table in dataset.parties.items():
        if list(table.ids) != reference:
            raise DataError(f"{name}'s IDs differ from the label party's; use PSI to align")


def align_rows(
    dataset: VerticalDataset, *, use_psi: bool, seed: int | None
) -> tuple[dict[str, np.ndarray], PSIResult | None]:
    """Each party's row indices of the common IDs in one agreed order, in this process.

    By PSI, or by requiring identical ID lists when ``use_psi`` is False.

    Raises
    ------
    DataError
        If the parties share no IDs, or (without PSI) list different IDs.
    """
    if use_psi:
        ids = {name: table.ids for name, table in dataset.parties.items()}
        psi = require_nonempty(
            private_set_intersection(ids, leader=dataset.label_party, seed=seed, record=True)
        )
        return {name: psi.rows(name) for name in dataset.parties}, psi
    require_identical_ids(dataset)
    rows = np.arange(len(dataset.parties[dataset.label_party].ids))
    return dict.fromkeys(dataset.parties, rows), None


def z_scored(features: np.ndarray) -> tuple[np.ndarray, Standardization]:
    """``features`` z-scored with their own columns' mean and spread
    (:func:`column_scaling`: a constant column is only centred), and that scaling: how the
    networks rengo builds for a party read its columns (a raw column in the thousands
    saturates tanh and ReLU units alike). The scaling stays with the party's model, which
    applies it to the rows it scores (:func:`standardised`); it is never sent."""
    mean, scale = column_scaling(features)
    inputs = Standardization(mean, scale)
    return standardised(features, inputs), inputs


def standardised(features: np.ndarray, inputs: Standardization | None) -> np.ndarray:
    """``features`` as a party's network reads them: ``(x - mean) / scale`` with its
    model's ``inputs`` scaling, or as given without one (a module the party brought, or a
    model written before rengo scaled its inputs)."""
    if inputs is None:
        return features
    out: np.ndarray = np.subtract(features, inputs.mean)
    out /= inputs.scale  # in place: one copy of a tall table, not two
    return out


def scaled(
    table: PartyTable, mean: np.ndarray, scale: np.ndarray, *, in_place: bool = False
) -> PartyTable:
    """``table`` with every column z-scored: ``(x - mean) / scale`` (:func:`standardised`);
    ``in_place``: in ``table.features`` itself (a float64 table the caller has just read
    and holds no other use for), so that a party's millions of rows are held once."""
    if not in_place:
        return PartyTable(table.ids, standardised(table.features, Standardization(mean, scale)))
    features = table.features
    features -= mean
    features /= scale
    return PartyTable(table.ids, features)


def batch_order(
    seed: int, epoch: int, rows: int, batch_size: int, *, whole: bool = False
) -> list[np.ndarray]:
    """The row indices of each mini-batch of ``epoch``: a permutation every party derives
    from the seed agreed at set-up, cut into ``ceil(rows / batch_size)`` batches; ``whole``:
    into :func:`whole_batches` of them, the remainder joining the last, so that no batch
    holds fewer than ``batch_size`` rows (all of them when there are fewer)."""
    order = np.random.default_rng([seed, epoch]).permutation(rows)
    if whole:
        sizes = batch_sizes(rows, batch_size)
        starts = np.cumsum([0, *sizes])[:-1]
        return [order[start : start + size] for start, size in zip(starts, sizes, strict=True)]
    return [order[s : s + batch_size] for s in range(0, rows, batch_size)]


def batch_sizes(rows: int, batch_size: int) -> list[int]:
    """The size of each batch of an epoch cut with ``whole=True`` (:func:`batch_order`):
    ``batch_size`` rows each, the remainder joining the last, so that no batch is smaller
    than ``batch_size`` (one batch of every row when there are fewer)."""
    count = whole_batches(rows, batch_size)
    return [batch_size] * (count - 1) + [rows - batch_size * (count - 1)] if count else []


def whole_batches(rows: int, batch_size: int) -> int:
    """Batches of an epoch over ``rows`` rows cut with ``whole=True`` (:func:`batch_order`):
    ``rows // batch_size``, and 1 when there are fewer rows than one batch (0 without rows)."""
    return max(1, rows // batch_size) if rows > 0 else 0


def smallest_batch(rows: int, batch_size: int) -> int:
    """Rows of the smallest batch of an epoch over ``rows`` rows cut with ``whole=True``
    (:func:`batch_order`): ``batch_size``, as the remainder joins the last batch, or every
    row when there are fewer. A party whose gradient of a batch has at least as many
    entries as this batch has unknowns could solve it for them (see
    :mod:`rengo.ftl.exposure`, :mod:`rengo.vfl.hetero_lr.exposure`)."""
    return min(rows, batch_size)
