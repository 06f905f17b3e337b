"""Categorical (text) feature columns, one-hot encoded into named 0/1 columns.

A real table holds text columns (``region = north``, ``product = gold``). A loader
(:func:`rengo.data.load_csv`) encodes the columns it is told are categorical, as
scikit-learn's ``OneHotEncoder`` does, so that every party and every scoring file encodes
them the same way without hand-written code:

- **Declared columns.** ``categorical=["region", ...]`` names them; ``categorical="auto"``
  takes every feature column whose cells (in the first chunk the loader reads, a few
  thousand rows) hold text. A column of codes written as numbers (``zip = 10115``) is
  encoded only when named.
- **Columns.** Column ``region`` with categories ``("north", "south")`` becomes the
  columns ``region=north`` and ``region=south`` in its place (the table keeps its column
  order), each ``1.0`` on the rows of that category and ``0.0`` elsewhere.
- **Categories.** Learnt from the table (its distinct cells, sorted), or declared
  (``categories={"region": ["north", "south"]}``, a job file's ``[data.categories]``): a
  declared list is the encoding, in its order, whatever the table holds, so that parties
  and scoring files that each read their own rows agree on the columns.
  :attr:`CategoricalEncoding.categories` is what a fitted table used; passing it back as
  ``categories`` encodes new rows identically.
- **Unseen categories** (a cell outside the categories: a scoring row of a new region, a
  client's cell outside the declared list) follow ``unseen``: ``"zeros"`` encodes the row
  as all zeros in that column's block and warns once per column with the count and the
  first row; ``"error"`` refuses the first one, naming its file, line and column.
- **Missing cells** follow the table's rule for missing numbers: a cell among the loader's
  ``missing_values`` (e.g. ``""``) is all zeros in the block (no category), never a
  category of its own; an empty cell or a marker such as ``NA`` is otherwise refused, as
  in a numeric column.
- **Guard.** More than ``max_categories`` distinct values (default
  :data:`MAX_CATEGORIES`) in a column whose categories are learnt is refused: it is most
  often an ID or free-text column declared categorical by mistake, and would add a column
  per row.

The math is plain functions over lists of cells; :class:`CategoricalEncoding` is the
record of what was fitted, written as plain JSON (``{"column": ["a", "b"]}``) by
:meth:`CategoricalEncoding.to_json`, never pickled.
"""

from __future__ import annotations

import itertools
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data.labels import MISSING_LABEL_TEXT

UnseenCategory = Literal["zeros", "error"]
UNSEEN_CHOICES: tuple[str, ...] = ("zeros", "error")
MAX_CATEGORIES = 50
"""The most categories a column learns by default (its guard against an ID column)."""
SEPARATOR = "="
"""Between a column's name and its category in a one-hot column's name (``region=north``)."""


@dataclass(frozen=True)
class CategoricalColumns:
    """What a caller asks a loader to encode.

    Parameters
    ----------
    columns
        The categorical columns, or ``"auto"``: every feature column holding text.
    categories
        Declared categories of some columns (they are categorical whether or not
        ``columns`` names them): the encoding of those columns, in this order.
    unseen
        ``"zeros"`` or ``"error"``: what a cell outside a column's categories becomes.
    max_categories
        The most categories a column may learn from the table.
    """

    columns: tuple[str, ...] | Literal["auto"] = ()
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unseen: UnseenCategory = "zeros"
    max_categories: int = MAX_CATEGORIES

    @staticmethod
    def checked(
        columns: Sequence[str] | Literal["auto"] | None,
        categories: Mapping[str, Sequence[str]] | None,
        unseen: str = "zeros",
        max_categories: int = MAX_CATEGORIES,
    ) -> CategoricalColumns:
        """The request, each part checked.

        Raises
        ------
        ConfigError
            For ``columns`` that is neither ``"auto"`` nor a list of names (a single name
            given as a string), a repeated column, declared categories that are empty,
            repeated or not text, an ``unseen`` other than ``"zeros"`` or ``"error"``, or a
            ``max_categories`` under 1.
        """
        if isinstance(columns, str) and columns != "auto":
            raise ConfigError(
                f"categorical={columns!r}: give a list of column names "
                f"(categorical=[{columns!r}]) or 'auto'"
            )
        names: tuple[str, ...] | Literal["auto"] = (
            "auto" if columns == "auto" else tuple(str(c) for c in columns or ())
        )
        if names != "auto" and len(set(names)) != len(names):
            twice = sorted({c for c in names if names.count(c) > 1})
            raise ConfigError(f"categorical names column(s) {twice} twice")
        if unseen not in UNSEEN_CHOICES:
            raise ConfigError(f"unseen category policy {unseen!r}: choose 'zeros' or 'error'")
        if not isinstance(max_categories, int) or max_categories < 1:
            raise ConfigError(f"max_categories must be a whole number >= 1, got {max_categories}")
        declared = {
            str(column): _declared(str(column), values)
            for column, values in (categories or {}).items()
        }
        return CategoricalColumns(names, declared, unseen, max_categories)  # type: ignore[arg-type]

    @property
    def wanted(self) -> bool:
        """Whether any column is to be encoded."""
        return bool(self.columns) or bool(self.categories)

    def named(self) -> tuple[str, ...]:
        """The columns named (declared ones included), in the order given."""
        listed = () if self.columns == "auto" else self.columns
        return (*listed, *(c for c in self.categories if c not in listed))


def _declared(column: str, values: Any) -> tuple[str, ...]:
    """Declared categories of ``column``, checked: a non-empty list of distinct text."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ConfigError(
            f"categories of {column!r} must be a list of names, e.g. "
            f'{column} = ["north", "south"], got {values!r}'
        )
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(
            f"categories of {column!r} must be a non-empty list of non-empty names, got "
            f"{list(values)!r}"
        )
    cleaned = tuple(v.strip() for v in values)  # cells are read stripped
    if len(set(cleaned)) != len(cleaned):
        twice = sorted({v for v in cleaned if cleaned.count(v) > 1})
        raise ConfigError(f"categories of {column!r} name {twice} twice")
    return cleaned


@dataclass(frozen=True)
class CategoricalEncoding:
    """The categories each encoded column was given, in one-hot column order, and what an
    unseen category becomes: pass ``categories`` back to the loader to encode new rows the
    same way (a vertical party keeps it with its model).

    Parameters
    ----------
    categories
        Each encoded column's categories, in the order of its one-hot columns.
    unseen
        What a cell outside them becomes: ``"zeros"`` (counted in a warning) or
        ``"error"``.
    """

    categories: Mapping[str, tuple[str, ...]]
    unseen: UnseenCategory = "zeros"

    def feature_names(self, column: str) -> tuple[str, ...]:
        """The one-hot column names of ``column`` (``region=north``, ...)."""
        return one_hot_names(column, self.categories[column])

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: ``{"unseen": ..., "categories": {column: [names]}}``."""
        return {
            "unseen": self.unseen,
            "categories": {c: list(names) for c, names in self.categories.items()},
        }

    @staticmethod
    def from_json(value: Any, source: str) -> CategoricalEncoding:
        """Read :meth:`to_json`'s document back.

        Raises
        ------
        DataError
            Naming ``source``, for a document that is not one.
        """
        try:
            if not isinstance(value, Mapping) or not isinstance(value.get("categories"), Mapping):
                raise ConfigError("expected {'unseen': ..., 'categories': {column: [names]}}")
            request = CategoricalColumns.checked(
                None, value["categories"], str(value.get("unseen", "zeros"))
            )
        except ConfigError as exc:
            raise DataError(f"{source}: not a categorical encoding: {exc}") from None
        return CategoricalEncoding(dict(request.categories), request.unseen)


def source_columns(feature_names: Sequence[str], encoding: CategoricalEncoding) -> tuple[str, ...]:
    """The table columns ``feature_names`` (a fitted table's, one-hot columns among them)
    were made from, in order: each one-hot block named once, by its text column."""
    made_from = {
        name: column for column in encoding.categories for name in encoding.feature_names(column)
    }
    return tuple(dict.fromkeys(made_from.get(name, name) for name in feature_names))


def one_hot_names(column: str, categories: Sequence[str]) -> tuple[str, ...]:
    """``column=category`` for each category, in order."""
    return tuple(f"{column}{SEPARATOR}{c}" for c in categories)


class CodedCells(Sequence[str]):
    """A text column's cells held as one code per row into its distinct values: 4 bytes a
    row rather than a Python string (about 60 bytes) each, so a tall table's text columns
    cost little more than a numeric column while :func:`~rengo.data.load_csv` reads on to
    learn their categories. Read as the sequence of cells it stands for; starts empty, and
    :meth:`extend` adds rows.
    """

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._values: list[str] = []  # the index's keys in code order, kept as it grows
        self._parts: list[np.ndarray] = []

    @property
    def values(self) -> list[str]:
        """The distinct cells, in order of first appearance (a code's cell)."""
        return list(self._values)

    @classmethod
    def of(cls, cells: Sequence[str]) -> CodedCells:
        """``cells`` as codes (itself when it is already)."""
        if isinstance(cells, CodedCells):
            return cells
        coded = cls()
        coded.extend(cells)
        return coded

    def extend(self, cells: Iterable[str]) -> None:
        """Add the cells of some more rows."""
        index = self._index
        # a new cell's code is the count of those before it (setdefault adds it then)
        codes = [index.setdefault(cell, len(index)) for cell in cells]
        self._values.extend(itertools.islice(index, len(self._values), None))  # the new ones
        self._parts.append(np.array(codes, np.int32))

    @property
    def codes(self) -> np.ndarray:
        """Every row's code, in row order."""
        if len(self._parts) != 1:
            joined = np.concatenate(self._parts) if self._parts else np.empty(0, np.int32)
            self._parts = [joined]
        return self._parts[0]

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def __iter__(self) -> Iterator[str]:
        values = self._values
        return (values[c] for c in self.codes.tolist())

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        values = self._values
        if isinstance(i, slice):
            return [values[c] for c in self.codes[i].tolist()]
        return values[int(self.codes[i])]


def learn_categories(
    column: str, cells: Sequence[str], missing: Collection[str], max_categories: int, where: str
) -> tuple[str, ...]:
    """The sorted distinct categories of ``cells`` (missing cells left out).

    Raises
    ------
    DataError
        Naming ``where`` (the file) and ``column``, for more than ``max_categories``
        categories, or none at all.
    """
    distinct = set(CodedCells.of(cells).values)
    found = sorted(
        c for c in distinct - set(missing) if c.lower() not in MISSING_LABEL_TEXT
    )  # a marker is refused (or read as missing) by encode_column, never a category
    if len(found) > max_categories:
        shown = ", ".join(repr(c) for c in found[:3])
        every = " (a different value on every row)" if len(found) == len(cells) else ""
        raise DataError(
            f"{where}: categorical column {column!r} holds {len(found)} distinct values"
            f"{every}, more than max_categories = {max_categories} ({shown}, ...): is it an "
            "ID or free-text column? name an ID column as the id column, leave a free-text "
            "one out of the features; if it really has that many categories, raise "
            "max_categories (a job's [data] max_categories)"
        )
    if not found:
        raise DataError(
            f"{where}: categorical column {column!r} has no value on any row (every cell is "
            "missing); leave it out of the features"
        )
    return tuple(found)


@dataclass
class UnseenCount:
    """Rows of one column whose cell was outside its categories: how many, and the first
    (its place and cell), for one warning per column."""

    rows: int = 0
    first: str = ""
    cell: str = ""


def encode_column(
    column: str,
    cells: Sequence[str],
    categories: Sequence[str],
    *,
    missing: Collection[str],
    unseen: UnseenCategory,
    where: Callable[[int], str],
    dtype: type = np.float64,
    count: UnseenCount | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """One-hot ``cells`` of ``column`` into a ``(rows, len(categories))`` block of 0/1
    (``out``, all zeros, when given: a slice of the table it goes into, so no block is
    made beside it).

    A cell among ``missing`` is a row of zeros; a cell outside ``categories`` too with
    ``unseen="zeros"`` (counted in ``count``).

    Raises
    ------
    DataError
        Naming ``where(i)`` and ``column``: an unseen category with ``unseen="error"``, or
        an empty cell or missing-value marker (``NA``...) that ``missing`` does not hold.
    """
    index = {name: k for k, name in enumerate(categories)}
    coded = CodedCells.of(cells)
    # each distinct cell looked up once: its category's column, or -1
    values = coded.values
    lookup = np.array([index.get(v, -1) for v in values], np.int64)
    codes = lookup[coded.codes] if len(lookup) else np.empty(0, np.int64)
    block: np.ndarray = np.zeros((len(coded), len(categories)), dtype) if out is None else out
    hit = np.flatnonzero(codes >= 0)
    block[hit, codes[hit]] = 1
    # the rows of a cell neither a category nor missing: refused, or counted as unseen
    outside = [k for k, v in enumerate(values) if lookup[k] < 0 and v not in missing]
    for i in np.flatnonzero(np.isin(coded.codes, outside)).tolist() if outside else ():
        cell = values[int(coded.codes[i])]
        if cell.lower() in MISSING_LABEL_TEXT:
            what = "is empty" if cell == "" else f"is {cell!r}, a missing-value marker"
            raise DataError(
                f"{where(i)}: categorical column {column!r} {what}; a missing category is "
                f"encoded as no category (all zeros) when the table reads it as missing "
                f"(load_csv's missing_values=({cell!r},)), or fill the cell"
            )
        if unseen == "error":
            raise DataError(
                f"{where(i)}: categorical column {column!r} is {cell!r}, not one of its "
                f"categories {list(categories)}; add it to the column's categories, or "
                "encode such rows as all zeros with unseen='zeros' (a job's [data] "
                'unseen_category = "zeros")'
            )
        if count is not None:
            if not count.rows:
                count.first, count.cell = where(i), cell
            count.rows += 1
    return block


def warn_unseen(column: str, count: UnseenCount, total: int) -> None:
    """Warn once that ``count.rows`` of ``total`` rows of ``column`` held an unseen category
    (encoded as all zeros); nothing when none did."""
    if not count.rows:
        return
    warnings.warn(
        f"{count.first}: categorical column {column!r} is {count.cell!r}, a category it was "
        f"not given; {count.rows} of {total} row(s) hold such categories and are encoded as "
        "no category (all zeros); declare the categories, or refuse such rows with "
        "unseen='error'",
        UserWarning,
        stacklevel=3,
    )


def looks_like_text(cells: Sequence[str], missing: Collection[str]) -> bool:
    """Whether a column of ``cells`` holds a cell that is neither a number nor missing
    (``categorical="auto"``'s test)."""
    for cell in cells:
        if cell in missing or cell.lower() in MISSING_LABEL_TEXT:
            continue
        try:
            float(cell.replace(",", "."))
        except ValueError:
            return True
    return False


def one_hot_table(
    numeric: np.ndarray,
    order: Sequence[str],
    text: Mapping[str, Sequence[str]],
    request: CategoricalColumns,
    *,
    missing: Collection[str],
    where: Callable[[int], str],
    source: str,
) -> tuple[np.ndarray, tuple[str, ...], CategoricalEncoding]:
    """The feature table with the ``text`` columns one-hot encoded in their place.

    Parameters
    ----------
    numeric
        The numeric feature columns, in ``order`` (with the text columns left out).
    order
        Every feature column's name, in table order.
    text
        Each categorical column's cells, one per row.
    request
        What to encode and how (declared categories, the unseen policy, the guard).
    missing
        Cells read as missing (all zeros).
    where
        Names row ``i`` (``file:line``) in messages.
    source
        Names the table (its file) in messages.

    Returns
    -------
    tuple
        The table, its column names, and the encoding used.

    Raises
    ------
    DataError
        As :func:`learn_categories` and :func:`encode_column`.
    """
    rows = len(numeric)
    categories = {
        c: request.categories.get(c)
        or learn_categories(c, text[c], missing, request.max_categories, source)
        for c in order
        if c in text
    }
    names: list[str] = []
    for column in order:
        names.extend(one_hot_names(column, categories[column]) if column in text else [column])
    clash = sorted(n for n, k in Counter(names).items() if k > 1)  # one pass: 10,000s of columns
    if clash:
        raise DataError(
            f"{source}: one-hot column name(s) {clash} are also the name of another column; "
            "rename that column"
        )
    # every column written into its place in one table: no block beside it
    table = np.zeros((rows, len(names)), numeric.dtype)
    k = at = 0
    for column in order:
        if column not in text:
            table[:, at] = numeric[:, k]
            k, at = k + 1, at + 1
            continue
        width = len(categories[column])
        count = UnseenCount()
        encode_column(
            column,
            text[column],
            categories[column],
            missing=missing,
            unseen=request.unseen,
            where=where,
            dtype=numeric.dtype.type,
            count=count,
            out=table[:, at : at + width],
        )
        at += width
        warn_unseen(column, count, rows)
    return table, tuple(names), CategoricalEncoding(categories, request.unseen)
