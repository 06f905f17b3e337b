"""Read and write user tables as CSV with the standard csv module and numpy (no pandas).

Every malformed input raises :class:`~rengo.core.errors.DataError` naming the file, the line
and the column, so a user can fix the file without guessing.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import itertools
import re
import warnings
from collections.abc import (
    Callable,
    Collection,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data.categorical import (
    MAX_CATEGORIES,
    CategoricalColumns,
    CodedCells,
    UnseenCategory,
    looks_like_text,
    one_hot_table,
)
from rengo.data.cells import check_ids, first_unplain_number, to_feature_dtype
from rengo.data.csv_export import write_csv
from rengo.data.dataset import Dataset
from rengo.data.exposure import check_exposure_column
from rengo.data.labels import MISSING_LABEL_TEXT, Task, encode_labels

CellProblem = Literal["text", "empty", "missing", "not finite"]
"""What is wrong with a feature cell: text, an empty cell, a missing-value marker (``NA``,
``null``...) or a NaN or infinite number."""


class FeatureCellError(DataError):
    """A feature cell that is not a finite number: its ``fact`` (file, line, column, the cell
    and what is wrong with it), the ``problem``, and a ``hint`` on how a job or
    :func:`load_csv` reads such a cell, kept apart so that a caller reading a table through
    other options (a command line's, a tournament's predictions) gives its own hint.
    """

    def __init__(self, fact: str, problem: CellProblem, hint: str = "") -> None:
        super().__init__(f"{fact} ({hint})" if hint else fact)
        self.fact = fact
        self.problem = problem
        self.hint = hint


def load_csv(
    path: str | Path,
    label: str | None = "y",
    id_column: str | None = None,
    *,
    features: Sequence[str] | None = None,
    column_names: Sequence[str] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    decimal: str = ".",
    missing_values: Collection[str] = (),
    task: Task = "auto",
    dtype: type = np.float64,
    name: str | None = None,
    categorical: Sequence[str] | Literal["auto"] = (),
    categories: Mapping[str, Sequence[str]] | None = None,
    unseen: UnseenCategory = "zeros",
    max_categories: int = MAX_CATEGORIES,
    exposure: str | None = None,
) -> Dataset:
    """Load a CSV table with a header row into a :class:`Dataset`.

    ``label`` names the label column (``None`` for a feature-only table, e.g. a vertical FL
    host); ``id_column`` keeps that column as row ids; ``features`` picks feature columns (all
    other columns by default). ``column_names`` is for files without a header row. Cells equal to
    one of ``missing_values`` become NaN; any other non-numeric feature cell is an error. Text
    labels become class codes with the sorted names in ``Dataset.classes``.

    A spreadsheet's export in a locale that writes ``0,5`` is read with ``delimiter=";"`` and
    ``decimal=","`` (feature cells and numeric labels; a cell that also holds a ``.`` is
    refused, as a thousands separator would be misread), one saved in the Windows code page
    with ``encoding="cp1252"`` (any codec Python knows). A UTF-8 byte-order mark is skipped.

    Text columns are one-hot encoded (see :mod:`rengo.data.categorical`): ``categorical``
    names them (or ``"auto"``: every feature column holding text), ``categories`` declares
    some columns' categories (``{"region": ["north", "south"]}``; such a column is
    categorical too), ``unseen`` says what a cell outside a column's categories becomes
    (``"zeros"``, counted in a warning, or ``"error"``), ``max_categories`` guards against
    an ID column declared categorical. Column ``region`` becomes ``region=north``,
    ``region=south`` in its place; ``Dataset.categories`` records the encoding, and
    ``load_csv(new, categories=table.categories.categories)`` encodes scoring rows into
    the same columns.

    ``exposure`` names a column of how long each row was observed (years insured: a count
    model's offset, see :mod:`rengo.data.exposure`); it is read into ``Dataset.exposure``,
    never a feature, and every cell must be a positive finite number.

    Raises
    ------
    DataError
        Naming the file, line and column: a malformed or ragged file, a missing exposure
        column or an exposure cell that is empty, text, NaN, infinite or not positive,
        text that is not in
        ``encoding``, a non-numeric or non-finite feature cell (NaN only with
        ``missing_values``), a value that overflows float32 (``dtype=np.float32``), a
        missing label, an empty or repeated ID, a categorical column the header lacks, one
        with more than ``max_categories`` categories, or (``unseen="error"``) a cell outside
        a column's categories.
    ConfigError
        For a ``dtype`` other than float32 or float64, a label/id column among ``features``
        or ``categorical``, a categorical column left out of ``features``, a ``delimiter``
        that is not one character, an unknown ``encoding``, a ``decimal`` other than ``"."``
        or ``","`` (or equal to ``delimiter``), or a malformed ``categorical``,
        ``categories``, ``unseen`` or ``max_categories``.
    """
    request = CategoricalColumns.checked(categorical, categories, unseen, max_categories)
    if exposure is not None:
        check_exposure_column(exposure, label, id_column, f"{path}: the exposure column")
    dataset, text = _load(
        Path(path),
        CsvFormat.checked(delimiter, encoding, decimal),
        column_names,
        _Names(label, id_column, features, text=exposure, categorical=request, role="exposure"),
        missing_values=missing_values,
        task=task,
        dtype=dtype,
        name=name,
    )
    if text is None:
        return dataset
    from rengo.data.exposure_column import exposure_cells  # it reads this module's columns

    return dataclasses.replace(dataset, exposure=exposure_cells(text, str(path), decimal))


@dataclass(frozen=True)
class TextColumn:
    """One column of a CSV file as text, a cell per data row (a list, or a categorical
    feature column's :class:`~rengo.data.categorical.CodedCells`), and ``where(i)``: the
    ``file:line`` of data row ``i`` (for messages)."""

    name: str
    cells: Sequence[str]
    where: Callable[[int], str]


def load_csv_and_column(
    path: str | Path,
    column: str,
    id_column: str,
    *,
    features: Sequence[str] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    decimal: str = ".",
    missing_values: Collection[str] = (),
    name: str | None = None,
    categorical: Sequence[str] | Literal["auto"] = (),
    categories: Mapping[str, Sequence[str]] | None = None,
    unseen: UnseenCategory = "zeros",
    max_categories: int = MAX_CATEGORIES,
    label: str | None = None,
    task: Task = "auto",
) -> tuple[Dataset, TextColumn]:
    """:func:`load_csv` of a table, and its column ``column`` as text, read in the same pass
    (so they align row for row): a label that is decoded once the whole column is known,
    e.g. a transfer-learning target's few labels, blank where it has none; or a column
    beside the label that is not a feature, e.g. a count model's exposure.

    ``features`` default to every column but ``id_column``, ``label`` and ``column``;
    ``label`` and ``task`` (without a label: none) and ``categorical``, ``categories``,
    ``unseen`` and ``max_categories`` are :func:`load_csv`'s.

    Raises
    ------
    DataError
        As :func:`load_csv`, and for a file without ``column``.
    ConfigError
        As :func:`load_csv`, and for ``column`` among ``features``.
    """
    request = CategoricalColumns.checked(categorical, categories, unseen, max_categories)
    dataset, text = _load(
        Path(path),
        CsvFormat.checked(delimiter, encoding, decimal),
        None,
        _Names(label, id_column, features, text=column, categorical=request),
        missing_values=missing_values,
        task=task,
        dtype=np.float64,
        name=name,
    )
    assert text is not None  # _Names.text was given
    return dataset, text


def csv_header(path: str | Path, delimiter: str = ",", encoding: str = "utf-8") -> list[str]:
    """The column names of a CSV file, read from its header row alone.

    Raises
    ------
    DataError
        For a missing, empty or malformed file, a header not in ``encoding``, or a bad header.
    ConfigError
        For a ``delimiter`` that is not one character or an unknown ``encoding``.
    """
    form = CsvFormat.checked(delimiter, encoding)
    with contextlib.closing(_records(Path(path), form, None)) as records:
        return next(records)[1]


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written: the field ``delimiter``, the text ``encoding`` and the
    ``decimal`` separator of its numbers (a German spreadsheet's export: ``";"``,
    ``"cp1252"``, ``","``). :meth:`checked` also takes ``"tab"``, or a backslash and a
    ``t`` (as a command line gives them), for a tab."""

    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: str = "."

    @staticmethod
    def checked(delimiter: str = ",", encoding: str = "utf-8", decimal: str = ".") -> CsvFormat:
        """The format, after checking each part.

        Raises
        ------
        ConfigError
            For a ``delimiter`` that is not one character (or is a quote or line end), an
            ``encoding`` Python does not know, or a ``decimal`` other than ``"."`` or
            ``","`` or equal to ``delimiter``.
        """
        if delimiter in ("\\t", "tab"):  # a tab, as typed on a command line
            delimiter = "\t"
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
            raise ConfigError(
                f"delimiter must be one character such as ',' or ';' (or tab), got {delimiter!r}"
            )
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ConfigError(
                f"encoding {encoding!r} is not a text encoding Python knows; a spreadsheet "
                "export is mostly 'utf-8' or 'cp1252' (Windows) or 'latin-1'"
            ) from None
        if decimal not in (".", ","):
            raise ConfigError(f"decimal must be '.' or ',', got {decimal!r}")
        if decimal == delimiter:
            raise ConfigError(
                f"decimal {decimal!r} is also the delimiter: a table whose numbers are "
                "written 0,5 separates its fields with another character (delimiter=';')"
            )
        return CsvFormat(delimiter, encoding, decimal)

    @property
    def is_utf8(self) -> bool:
        """Whether the text is UTF-8 (read with any byte-order mark skipped)."""
        return codecs.lookup(self.encoding).name in ("utf-8", "utf-8-sig")


@dataclass(frozen=True)
class _Names:
    """The columns a caller names: the label, the ids, the features (``None``: all others),
    one more kept as text, and the categorical features to one-hot encode."""

    label: str | None
    ids: str | None
    features: Sequence[str] | None
    text: str | None = None
    categorical: CategoricalColumns = dataclasses.field(default_factory=CategoricalColumns)
    role: str = ""
    """What the text column is, for the error naming it when the header lacks it."""


def _load(
    path: Path,
    form: CsvFormat,
    column_names: Sequence[str] | None,
    names: _Names,
    *,
    missing_values: Collection[str],
    task: Task,
    dtype: type,
    name: str | None,
) -> tuple[Dataset, TextColumn | None]:
    """Read ``path`` in one streaming pass (see :data:`CHUNK_CELLS`) into a table."""
    _check_dtype(dtype)
    with _opened(path, form, column_names, names) as (header, columns, chunks):
        return _dataset(
            path,
            header,
            chunks,
            columns,
            decimal=form.decimal,
            missing_values=missing_values,
            task=task,
            dtype=dtype,
            name=name,
        )


@contextlib.contextmanager
def _opened(
    path: Path, form: CsvFormat, column_names: Sequence[str] | None, names: _Names
) -> Iterator[tuple[list[str], _Columns, Iterator[list[tuple[int, list[str]]]]]]:
    """``path``'s header, the columns ``names`` names, and its data rows ``(line, cells)``
    in chunks of about :data:`CHUNK_CELLS` cells; a malformed file is named before a
    column the header lacks (as :func:`read_csv_rows` names it)."""
    with contextlib.closing(_records(path, form, column_names)) as records:
        header = next(records)[1]
        try:
            columns = _Columns.pick(CsvRows(path, header, [], []), names)
        except (ConfigError, DataError):
            for _ in records:
                pass
            raise
        yield header, columns, _chunks(records, max(1, CHUNK_CELLS // len(header)))


CHUNK_CELLS = 1 << 16
"""Cells :func:`load_csv` holds as text at once: it parses a file's rows in chunks of this
many cells into numbers, so a tall file's text is never all in memory at once (only its id
and label cells are kept as text, for the checks that need the whole column)."""


@dataclass(frozen=True)
class CsvRows:
    """A CSV file's cells as :func:`load_csv` reads them: the header, the data rows (cells
    stripped, blank lines skipped) and each row's line number in the file."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str) -> list[str]:
        """The cells of column ``name``, one per data row (a DataError if there is none)."""
        if name not in self.header:
            raise self.missing_column(name)
        j = self.header.index(name)
        return [row[j] for row in self.rows]

    def missing_column(self, name: str, role: str = "") -> DataError:
        """The error for a column ``name`` the header lacks (``role``: "label", "id", ...),
        saying so when the header reads as one column that holds another separator."""
        what = f"{role} column" if role else "column"
        message = f"{self.path}: no {what} {name!r}; columns are {self.header}"
        message += _other_separator(self.header) + _no_header(self.header)
        return DataError(message)


def read_csv_rows(
    path: str | Path,
    delimiter: str = ",",
    column_names: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> CsvRows:
    """Read a CSV file's cells as :func:`load_csv` reads them (one reader behind both),
    all at once: for code that writes the rows back out (``rengo vfl align``). Code that
    needs a column as text beside the table reads both with :func:`load_csv_and_column`.

    Raises
    ------
    DataError
        For a missing, empty or malformed file, text not in ``encoding``, a bad header or a
        ragged row.
    ConfigError
        For a ``delimiter`` that is not one character or an unknown ``encoding``.
    """
    path = Path(path)
    header, rows, lines = _read_rows(path, CsvFormat.checked(delimiter, encoding), column_names)
    return CsvRows(path, header, rows, lines)


def stream_csv_rows(
    path: str | Path, delimiter: str = ",", encoding: str = "utf-8"
) -> Generator[list[str], None, None]:
    """A CSV file's header, then its data rows one at a time, read as :func:`read_csv_rows`
    reads them (cells stripped, blank lines skipped), so that a tall file can be read
    without holding all its cells: for code that passes over a file (``rengo vfl align``
    reads the IDs, then writes the shared rows).

    Raises
    ------
    DataError
        As :func:`read_csv_rows` (when the row that shows it is reached), and for a file
        with a header but no data rows.
    ConfigError
        For a ``delimiter`` that is not one character or an unknown ``encoding``.
    """
    path = Path(path)
    with contextlib.closing(_records(path, CsvFormat.checked(delimiter, encoding), None)) as rows:
        yield next(rows)[1]
        empty = True
        for _, cells in rows:
            empty = False
            yield cells
        if empty:
            raise DataError(f"{path}: header found but no data rows")


@dataclass(frozen=True)
class _Columns:
    """Which columns of a header are the label, the ids, the features and the one kept as
    text; which features are categorical (named ones: ``"auto"`` adds those whose cells
    are text once the first rows are read) and how to encode them."""

    label: int | None
    ids: int | None
    features: list[int]
    text: int | None
    categorical: list[int] = dataclasses.field(default_factory=list)
    request: CategoricalColumns = dataclasses.field(default_factory=CategoricalColumns)

    @staticmethod
    def pick(table: CsvRows, names: _Names) -> _Columns:
        """The columns named, a DataError for one the header lacks."""
        header = table.header
        index = {c: j for j, c in enumerate(header)}

        def column(col: str, role: str) -> int:
            if col not in index:
                raise table.missing_column(col, role)
            return index[col]

        def optional(col: str | None, role: str) -> int | None:
            return None if col is None else column(col, role)

        label, ids, text = (
            optional(names.label, "label"),
            optional(names.ids, "id"),
            optional(names.text, names.role),
        )
        others = (label, ids, text)
        if names.features is None:
            features = [j for j in range(len(header)) if j not in others]
        else:
            features = [column(f, "feature") for f in names.features]
            roles = ((names.label, "label"), (names.ids, "id"), (names.text, names.role or "text"))
            for j, (named, what) in zip(others, roles, strict=True):
                if j is not None and j in features:
                    raise ConfigError(
                        f"{table.path}: the {what} column {named!r} cannot also be a feature; "
                        "leave it out of the features"
                    )
        categorical = []
        for col in names.categorical.named():
            role = next(
                (r for r, c in (("label", names.label), ("id", names.ids)) if c == col), None
            )
            if role is not None:
                raise ConfigError(
                    f"{table.path}: column {col!r} is the {role} column and cannot also be "
                    "categorical; leave it out of the categorical columns"
                )
            j = column(col, "categorical")
            if j not in features:
                raise ConfigError(
                    f"{table.path}: categorical column {col!r} is not among the features "
                    f"{[header[k] for k in features]}; add it to the features or leave it "
                    "out of the categorical columns"
                )
            categorical.append(j)
        return _Columns(label, ids, features, text, categorical, names.categorical)


def _dataset(
    path: Path,
    header: list[str],
    chunks: Iterable[list[tuple[int, list[str]]]],
    columns: _Columns,
    *,
    decimal: str,
    missing_values: Collection[str],
    task: Task,
    dtype: type,
    name: str | None,
) -> tuple[Dataset, TextColumn | None]:
    """The :class:`Dataset` of data rows ``(line, cells)`` that come in ``chunks``, and the
    column kept as text: each chunk's features are parsed into numbers before the next is
    read; the id, label and text cells are kept as text for what needs the whole column."""
    table = _GrowingTable(np.empty((_rows_at_most(path), len(columns.features)), dtype))
    append = table.append
    scan = _scan(
        path,
        header,
        chunks,
        columns,
        lambda part, _: append(part),
        decimal=decimal,
        missing_values=missing_values,
        task=task,
        dtype=dtype,
    )
    X = table.rows()
    del table
    names, encoding = scan.feature_names, None
    if scan.categorical:
        X, names, encoding = one_hot_table(
            X,
            scan.feature_names,
            {column.name: column.cells for column in scan.categorical},
            columns.request,
            missing=set(missing_values),
            where=scan.categorical[0].where,
            source=str(path),
        )
    dataset = Dataset(
        X=X,
        y=scan.y,
        feature_names=names,
        classes=scan.classes,
        name=name or path.stem,
        ids=scan.ids,
        categories=encoding,
    )
    return dataset, scan.text


@dataclass(frozen=True)
class CsvScan:
    """What a pass over a CSV file keeps when its parsed feature rows go elsewhere
    (:func:`scan_csv`): the IDs, the encoded labels and their classes, the column kept as
    text, the feature columns' names and the categorical features' cells (left out of
    the parsed rows, for :func:`load_csv` to encode once every row is read)."""

    ids: np.ndarray | None
    y: np.ndarray | None
    classes: tuple[str, ...] | None
    text: TextColumn | None
    feature_names: tuple[str, ...]
    categorical: tuple[TextColumn, ...] = ()


def scan_csv(
    path: str | Path,
    each_chunk: Callable[[np.ndarray, list[str]], None],
    *,
    label: str | None = None,
    id_column: str | None = None,
    features: Sequence[str] | None = None,
    text_column: str | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    decimal: str = ".",
    missing_values: Collection[str] = (),
    task: Task = "auto",
) -> CsvScan:
    """Read ``path`` as :func:`load_csv` (or, with ``text_column``,
    :func:`load_csv_and_column`) reads it, every cell checked and named alike when it is
    wrong, but hand each chunk of parsed float64 feature rows (in file order, a few
    thousand rows at a time) to ``each_chunk`` instead of keeping them: a party that sums
    its columns, or keeps only some rows, without holding the whole table.

    Parameters
    ----------
    path
        The CSV file (with a header row).
    each_chunk
        Called with each chunk's feature rows, in file order (the array is the caller's),
        and their ID cells (empty without ``id_column``).
    label, id_column, features, delimiter, encoding, decimal, missing_values, task
        As :func:`load_csv`.
    text_column
        A column kept as text, as :func:`load_csv_and_column` keeps it.

    Returns
    -------
    CsvScan
        The IDs, labels, text column and feature names.

    Raises
    ------
    DataError
        As :func:`load_csv`.
    ConfigError
        As :func:`load_csv`.
    """
    path = Path(path)
    form = CsvFormat.checked(delimiter, encoding, decimal)
    names = _Names(label, id_column, features, text_column)
    with _opened(path, form, None, names) as (header, columns, chunks):
        return _scan(
            path,
            header,
            chunks,
            columns,
            each_chunk,
            decimal=form.decimal,
            missing_values=missing_values,
            task=task,
            dtype=np.float64,
        )


def _scan(
    path: Path,
    header: list[str],
    chunks: Iterable[list[tuple[int, list[str]]]],
    columns: _Columns,
    each_chunk: Callable[[np.ndarray, list[str]], None],
    *,
    decimal: str,
    missing_values: Collection[str],
    task: Task,
    dtype: type,
) -> CsvScan:
    """One pass over data rows ``(line, cells)`` in ``chunks``: each chunk's features
    parsed and handed to ``each_chunk`` before the next is read; the id, label and text
    cells kept as text, then checked (and the labels encoded) once every row is read."""
    lines: list[int] = []
    ids: list[str] = []
    labels: list[str] = []
    texts: list[str] = []
    missing = set(missing_values)
    categorical = list(columns.categorical)
    numeric = [j for j in columns.features if j not in categorical]
    # text features held as a code per row (rengo.data.categorical.CodedCells), not strings
    category_cells: dict[int, CodedCells] = {j: CodedCells() for j in categorical}
    for chunk in chunks:
        rows = [cells for _, cells in chunk]
        at = [line for line, _ in chunk]
        if not lines and columns.request.columns == "auto":  # the first chunk decides
            categorical += [j for j in numeric if looks_like_text([r[j] for r in rows], missing)]
            numeric = [j for j in columns.features if j not in categorical]
            category_cells = {j: CodedCells() for j in sorted(categorical)}
        for j, cells in category_cells.items():
            cells.extend(r[j] for r in rows)
        features = _parse_features(path, rows, at, header, numeric, missing, dtype, decimal)
        chunk_ids = [] if columns.ids is None else [r[columns.ids] for r in rows]
        each_chunk(features, chunk_ids)
        lines.extend(at)
        ids.extend(chunk_ids)
        if columns.label is not None:
            labels.extend(r[columns.label] for r in rows)
        if columns.text is not None:
            texts.extend(r[columns.text] for r in rows)
    if not lines:
        raise DataError(f"{path}: header found but no data rows")
    where = _locator(path, lines)
    id_array = None
    if columns.ids is not None:
        id_array = np.array(ids, dtype=str)
        check_ids(id_array, where, header[columns.ids])
    y, classes = None, None
    if columns.label is not None:
        label_text = _label_numbers(labels, decimal, task, where, header[columns.label])
        y, classes = encode_labels(np.array(label_text, dtype=str), task, where)
    text = None if columns.text is None else TextColumn(header[columns.text], texts, where)
    names = tuple(header[j] for j in columns.features)
    encoded = tuple(TextColumn(header[j], cells, where) for j, cells in category_cells.items())
    return CsvScan(id_array, y, classes, text, names, encoded)


def _rows_at_most(path: Path) -> int:
    """How many data rows ``path`` can hold: its line breaks and one, counted in its bytes
    (1 MiB at a time) before it is parsed, so that the table is filled in place rather
    than joined from its parsed chunks (which held the table twice)."""
    count = 1
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


@dataclass
class _GrowingTable:
    """The parsed rows of a table, filled into ``buffer`` in place (one made for the most
    rows the file can hold: memory a row never reaches is never touched), and grown by
    half again should it fill (a file whose lines end in a carriage return alone)."""

    buffer: np.ndarray
    filled: int = 0

    def append(self, part: np.ndarray) -> None:
        """Add the rows of ``part``."""
        end = self.filled + len(part)
        if not self.filled and part.shape[1:] != self.buffer.shape[1:]:
            # the categorical columns ("auto": known from the first chunk) are not parsed
            self.buffer = np.empty((len(self.buffer), *part.shape[1:]), part.dtype)
        if end > len(self.buffer):
            grown = np.empty((max(end, len(self.buffer) * 3 // 2), *part.shape[1:]), part.dtype)
            grown[: self.filled] = self.buffer[: self.filled]
            self.buffer = grown
        self.buffer[self.filled : end] = part
        self.filled = end

    def rows(self) -> np.ndarray:
        """The rows added, in order (the buffer itself when it is full, else its start)."""
        return self.buffer if self.filled == len(self.buffer) else self.buffer[: self.filled]


def partial_labels(column: TextColumn) -> np.ndarray:
    """A label ``column`` (read by :func:`load_csv_and_column`) as class names, ``None``
    where a cell is blank: the few labels a party holds of its own rows (a
    transfer-learning target's).

    The names are those :func:`load_csv` gives a fully labelled column's classes
    (:func:`~rengo.data.labels.encode_labels`): ``1.0`` and ``1`` both name class ``"1"``,
    so a party whose few labels read ``1.0``/``0.0`` names the classes a label party's
    ``1``/``0`` column does.

    Raises
    ------
    DataError
        If a cell holds a missing-label marker (``NA``, ``null``...) rather than being
        blank, or two labels differ only in letter case.
    """
    cells = column.cells
    names = np.full(len(cells), None, dtype=object)
    known = [i for i, cell in enumerate(cells) if cell]
    marked = [i for i in known if cells[i].lower() in MISSING_LABEL_TEXT]
    if marked:
        i = marked[0]
        raise DataError(
            f"{column.where(i)}: label {column.name!r} is {cells[i]!r}; leave the label of a "
            f"row without one blank ({len(marked)} row(s) affected)"
        )
    if known:
        codes, classes = encode_labels(
            np.array([cells[i] for i in known], dtype=str),
            "classification",
            lambda k: column.where(known[k]),
        )
        assert classes is not None  # task="classification" always names classes
        names[known] = np.asarray(classes, dtype=object)[codes]
    return names


def _check_dtype(dtype: type) -> None:
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ConfigError(f"dtype must be float32 or float64, got {dtype}")


def _read_rows(
    path: Path, form: CsvFormat, column_names: Sequence[str] | None
) -> tuple[list[str], list[list[str]], list[int]]:
    records = _records(path, form, column_names)
    header = next(records)[1]
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, cells in records:
        rows.append(cells)
        lines.append(line)
    if not rows:
        raise DataError(f"{path}: header found but no data rows")
    return header, rows, lines


def _chunks(
    records: Iterator[tuple[int, list[str]]], size: int
) -> Iterator[list[tuple[int, list[str]]]]:
    """``records`` in lists of ``size`` (the last one shorter)."""
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def _records(
    path: Path, form: CsvFormat, column_names: Sequence[str] | None
) -> Generator[tuple[int, list[str]], None, None]:
    """The file's header, then each data row, as ``(line, cells)``: cells stripped, blank
    lines skipped, a DataError for a malformed file, a bad header or a ragged row (the
    header's line is 0 when ``column_names`` gives it)."""
    delimiter = form.delimiter
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    header: list[str] | None = None
    if column_names is not None:
        header = [str(c) for c in column_names]
        _check_header(path, 0, header)
        yield 0, header
    try:
        with path.open(newline="", encoding="utf-8-sig" if form.is_utf8 else form.encoding) as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                cells = list(map(str.strip, row))
                if not any(cells):
                    continue  # blank line
                if header is None:
                    header = cells
                    _check_utf8_mark(path, form, header)
                    _check_header(path, reader.line_num, header)
                    yield reader.line_num, header
                    continue
                if len(cells) != len(header):
                    raise DataError(
                        f"{path}:{reader.line_num}: row has {len(cells)} fields but the header "
                        f"has {len(header)} ({', '.join(header)}); ragged rows are not allowed"
                        + _other_separator(header)
                    )
                yield reader.line_num, cells
    except csv.Error as exc:
        raise DataError(f"{path}: not valid CSV: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(_undecodable(path, form, exc)) from exc
    if header is None:
        raise DataError(f"{path}: file is empty (no header row)")


def _undecodable(path: Path, form: CsvFormat, exc: UnicodeDecodeError) -> str:
    """Where ``path`` stops being text in ``form.encoding``: its line and byte offset in the
    whole file, and the way out.

    The csv reader decodes the file in chunks, so ``exc.start`` counts from the chunk's
    start, not the file's; the file is decoded again as a whole to name the right place.
    """
    data = path.read_bytes()
    try:
        data.decode(form.encoding)
    except UnicodeDecodeError as whole:
        exc = whole
        line = data.count(b"\n", 0, whole.start) + 1
        where = f"{path}:{line}"
    else:  # pragma: no cover - the file changed since it was read
        where = str(path)
    if form.is_utf8:
        return (
            f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start} of the file); save it "
            "as UTF-8, or, if it was exported as Windows-1252 or Latin-1, read it as it is "
            "with encoding='cp1252' (a job's [data] or [vfl] encoding = \"cp1252\", "
            "rengo vfl's and rengo tournament's --encoding cp1252)"
        )
    return (
        f"{where}: not {form.encoding} text ({exc.reason} at byte {exc.start} of the file); "
        "is it UTF-8? (then leave the encoding out)"
    )


def _check_utf8_mark(path: Path, form: CsvFormat, header: list[str]) -> None:
    """Refuse a header that starts with a UTF-8 byte-order mark read as another encoding's
    characters (``ï»¿`` in cp1252): the file is UTF-8, and its first column name would
    carry them."""
    if form.is_utf8 or not header:
        return
    mark = codecs.BOM_UTF8.decode(form.encoding, errors="replace")
    if header[0].startswith(mark):
        raise DataError(
            f"{path}:1: the file starts with a UTF-8 byte-order mark: it is UTF-8 text, not "
            f"{form.encoding}; leave the encoding out (UTF-8 is the default)"
        )


def _other_separator(header: list[str]) -> str:
    """A hint for a header that reads as one column holding another separator (a file
    exported with ';' or tabs), else ``""``."""
    if len(header) != 1:
        return ""
    for sep in (";", "\t", "|", ","):
        if sep in header[0]:
            return (
                f"; the header reads as one column holding {sep!r}: the file looks "
                f"{sep!r}-separated (read it with delimiter={sep!r}: a job's [data] or "
                f"[vfl] delimiter = {sep!r}, rengo vfl's and rengo tournament's --delimiter)"
            )
    return ""


def _no_header(header: list[str]) -> str:
    """A hint for a header of numbers only (a file exported without its header row, whose
    first data row was read as the column names), else ``""``."""
    try:
        [float(name) for name in header]
    except ValueError:
        return ""
    return (
        "; the header holds only numbers: does the file lack its header row? (add one "
        "naming the columns; load_csv takes column_names=[...])"
    )


def _check_header(path: Path, line: int, header: list[str]) -> None:
    if header and header[0].lower().startswith("sep=") and not any(header[1:]):
        raise DataError(
            f"{path}:{line}: {','.join(header)!r} is a spreadsheet's separator line, not a "
            "header; delete that line (the header must be the first line)"
        )
    seen: set[str] = set()
    for j, name in enumerate(header):
        if not name:
            trailing = (
                " (the line ends with a separator: remove the trailing one from every line)"
                if j == len(header) - 1 and j > 0
                else ""
            )
            raise DataError(f"{path}:{line}: header column {j + 1} has no name{trailing}")
        if name in seen:
            raise DataError(
                f"{path}:{line}: header names column {name!r} twice" + _no_header(header)
            )
        seen.add(name)


def _locator(path: Path, lines: list[int]) -> Callable[[int], str]:
    def where(i: int) -> str:
        return f"{path}:{lines[i]}"

    return where


def _parse_features(
    path: Path,
    rows: list[list[str]],
    lines: list[int],
    header: list[str],
    feature_js: list[int],
    missing: set[str],
    dtype: type,
    decimal: str = ".",
) -> np.ndarray:
    raw = [r[j] for r in rows for j in feature_js]  # kept: numpy's str cells lose trailing NULs
    width = len(feature_js)
    # Python's float reads each cell as numpy's str-to-float cast does, without first copying
    # every cell into a fixed-width str array (most of the parse time of a wide table)
    text = [c if c not in missing else "nan" for c in raw] if missing else raw
    if decimal != ".":
        # 1.500 beside 0,5: a thousands separator, or a mixed file
        at = next((a for a, c in enumerate(raw) if "." in c and c not in missing), None)
        if at is not None:
            i, k = divmod(at, width)
            raise _point_in_comma_table(f"{path}:{lines[i]}", header[feature_js[k]], raw[at])
        text = [c.replace(decimal, ".") for c in text]
    try:
        values = np.fromiter(map(float, text), np.float64, len(text)).reshape(len(rows), width)
    except ValueError:
        raise _first_unreadable(
            path, lines, header, feature_js, raw, text, missing, decimal
        ) from None
    odd = first_unplain_number([c if c not in missing else "" for c in raw] if missing else raw)
    if odd is not None:
        raise _not_plain(path, lines, header, feature_js, raw, odd)
    # float reads "nan", "inf", "-Infinity": a NaN is a missing cell, allowed only when the
    # caller reads missing cells (missing_values); see cells.to_feature_dtype
    X, bad = to_feature_dtype(values, dtype, allow_nan=bool(missing))
    if bad is not None:
        i, k, problem = bad
        j = feature_js[k]
        fact = (
            f"{path}:{lines[i]}: column {header[j]!r} (column {j + 1}) is "
            f"{text[i * width + k]!r}, {problem}"
        )
        if problem != "not a finite number":  # overflows float32
            raise DataError(fact)
        raise FeatureCellError(
            fact,
            "not finite",
            "pass missing_values=(...) to read a missing-value marker as NaN",
        )
    return X


_NOT_PLAIN = (
    "not a plain number (a number is written in ASCII digits, without '_' or control "
    "characters; is the file damaged or exported with another locale?)"
)
"""Why a cell that only Python's ``float`` reads as a number is refused."""


def _float_reads(cell: str) -> bool:
    """Whether Python's ``float`` reads ``cell`` as a number (other printable text is the
    caller's to name: a missing-value marker, a word; a control character is damage)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _not_plain(
    path: Path, lines: list[int], header: list[str], feature_js: list[int], raw: list[str], at: int
) -> DataError:
    """The error for feature cell ``at`` (row-major), a number only to Python's float."""
    i, k = divmod(at, len(feature_js))
    j = feature_js[k]
    return DataError(
        f"{path}:{lines[i]}: column {header[j]!r} (column {j + 1}) is {raw[at]!r}, {_NOT_PLAIN}"
    )


def _first_unreadable(
    path: Path,
    lines: list[int],
    header: list[str],
    feature_js: list[int],
    raw: list[str],
    text: list[str],
    missing: Collection[str] = (),
    decimal: str = ".",
) -> DataError | FeatureCellError:
    """The error for the first feature cell (row-major) that is not a number; a marker of a
    missing value (``NA``, ``null``...) is named as one, with how this table reads a missing
    value (``missing``: the cells read as NaN)."""
    for at, value in enumerate(text):
        try:
            float(value)
        except ValueError:
            if first_unplain_number([raw[at]]) is not None:  # "2\x00": damaged, not text
                return _not_plain(path, lines, header, feature_js, raw, at)
            i, k = divmod(at, len(feature_js))
            j = feature_js[k]
            kind: CellProblem = "text"
            if value.lower() in MISSING_LABEL_TEXT - {""}:
                kind, what = "missing", f"{value!r} marks a missing value"
                hint = (
                    "this table reads an empty cell as missing: leave the cell empty; "
                    f"load_csv also reads {value!r} as missing with missing_values=("
                    f"'', {value!r})"
                    if "" in missing
                    else "a horizontal job takes no missing feature values: fill or drop "
                    f"them first; load_csv reads {value!r} as NaN with missing_values=("
                    f"{value!r},)"
                )
            elif value == "":
                kind, what = "empty", "is empty"
                hint = (
                    "a horizontal job takes no empty feature cells: fill or drop them first; "
                    "load_csv reads them as NaN with missing_values=('',)"
                )
            elif decimal == "." and _DECIMAL_COMMA.fullmatch(value):
                return DataError(
                    f"{path}:{lines[i]}: column {header[j]!r} (column {j + 1}) {value!r} is "
                    f"not a number ({_comma_hint()})"
                )
            else:
                what = f"{raw[at]!r} is not a number"
                hint = (
                    "a text column is one-hot encoded when declared categorical: load_csv's "
                    "categorical=[...] (or 'auto'), a job's [data] or [vfl] categorical = "
                    "[...]; an ID column is named as one with id_column, a job's [data] or "
                    "[vfl] id_column; load_csv leaves other columns out with features=[...]"
                )
            return FeatureCellError(
                f"{path}:{lines[i]}: column {header[j]!r} (column {j + 1}) {what}", kind, hint
            )
    return DataError(f"{path}: feature cells could not be read as numbers")


_DECIMAL_COMMA = re.compile(r"[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?")
"""A number written with a decimal comma (``0,5``, ``-1,25e3``)."""
_DECIMAL_POINT = re.compile(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?")
"""A number written with a decimal point (``0.5``) or a thousands point (``1.500``)."""


def _comma_hint() -> str:
    return (
        "a number with a decimal comma: read the table with decimal=',' (a job's [data] or "
        "[vfl] decimal = ',', rengo vfl's and rengo tournament's --decimal ,)"
    )


def _point_in_comma_table(where: str, column: str, cell: str) -> DataError:
    """The error for a cell holding a '.' in a table read with decimal ','."""
    return DataError(
        f"{where}: column {column!r} is {cell!r}, which holds a '.', but this table's "
        "decimal separator is ',' (a thousands separator? write the numbers without one; or "
        "is the table's decimal separator '.'? then leave decimal out)"
    )


def number_text(cell: str, decimal: str, where: str, column: str) -> str:
    """A number cell as Python's ``float`` reads it: with ``decimal=","``, ``2,5`` becomes
    ``2.5``; a cell the table's separator cannot have meant is refused, not misread.

    Parameters
    ----------
    cell
        The cell's text.
    decimal
        The table's decimal separator, ``"."`` or ``","``.
    where
        Where the cell is, for the error (``"bank.csv:12"``).
    column
        The column's name, for the error.

    Returns
    -------
    str
        The cell, its decimal comma (if any) written as a point.

    Raises
    ------
    DataError
        For a ``'.'`` in a table read with ``decimal=","`` (``1.500`` would otherwise read as
        1.5, a thousands separator?), a decimal comma in one read with ``decimal="."``, or a
        cell that is a number only to Python's ``float`` (``1_0``, non-ASCII digits, a
        control character: :func:`~rengo.data.cells.first_unplain_number`), as feature cells
        are refused.
    """
    if first_unplain_number([cell]) is not None and (_float_reads(cell) or not cell.isprintable()):
        raise DataError(f"{where}: column {column!r} is {cell!r}, {_NOT_PLAIN}")
    if decimal == ",":
        if _DECIMAL_POINT.fullmatch(cell):
            raise _point_in_comma_table(where, column, cell)
        return cell.replace(",", ".") if _DECIMAL_COMMA.fullmatch(cell) else cell
    if _DECIMAL_COMMA.fullmatch(cell):
        raise DataError(f"{where}: column {column!r} is {cell!r}, {_comma_hint()}")
    return cell


def _label_numbers(
    cells: list[str], decimal: str, task: Task, where: Callable[[int], str], column: str
) -> list[str]:
    """The label ``cells`` with numbers written with a decimal comma read as Python writes
    them (``decimal=","``: ``2,5`` -> ``2.5``; class names are left as they are); with
    ``decimal="."`` such a number is refused unless the labels are classes.

    Raises
    ------
    DataError
        For a label written with a decimal comma in a table read with ``decimal="."`` (and
        ``task`` not ``"classification"``), or one with a decimal point in a table read
        with ``decimal=","``.
    """
    joined = "".join(cells)
    if "," not in joined and (decimal == "." or "." not in joined):
        return cells  # one pass over a tall column, most often all there is to do
    if decimal == ".":
        if task != "classification":
            for i, cell in enumerate(cells):
                if _DECIMAL_COMMA.fullmatch(cell):
                    raise DataError(
                        f"{where(i)}: label {column!r} is {cell!r}, {_comma_hint()}; if the "
                        "labels are class names, read them with task='classification'"
                    )
        return cells
    for i, cell in enumerate(cells):
        if _DECIMAL_POINT.fullmatch(cell):
            raise _point_in_comma_table(where(i), column, cell)
    return [cell.replace(",", ".") if _DECIMAL_COMMA.fullmatch(cell) else cell for cell in cells]


def save_csv(dataset: Dataset, path: str | Path, label: str = "y", id_column: str = "id") -> None:
    """Write ``dataset`` as CSV (id, label, features) that :func:`load_csv` reads back exactly.

    Class labels are written as their names; floats with 17 significant digits (lossless).
    CSV has no place for the task: ``load_csv``'s ``task="auto"`` reads whole numbers as
    classes, so a regression target whose values are all whole numbers must be read back with
    ``task="regression"`` (a UserWarning says so when one is written).
    """
    header: list[str] = []
    parts: list[np.ndarray] = []
    if dataset.ids is not None:
        header.append(id_column)
        parts.append(dataset.ids.astype(str)[:, None])
    if dataset.y is not None:
        header.append(label)
        if dataset.classes is not None:
            names = np.array(dataset.classes, dtype=str)
            parts.append(names[dataset.y][:, None])
        else:
            parts.append(np.char.mod("%.17g", dataset.y)[:, None])
            if np.all(dataset.y == np.round(dataset.y)):
                warnings.warn(
                    f"{path}: the regression target {label!r} holds only whole numbers, which "
                    "load_csv reads as classes unless told task='regression' (a job refuses "
                    "it as a continuous target)",
                    UserWarning,
                    stacklevel=2,
                )
    clash = set(header) & set(dataset.feature_names)
    if clash:
        raise ConfigError(f"column names {sorted(clash)} are used by both features and id/label")
    header.extend(dataset.feature_names)
    parts.append(np.char.mod("%.17g", dataset.X.astype(np.float64)))
    table = np.concatenate(parts, axis=1) if parts else np.empty((len(dataset), 0), str)
    write_csv(path, header, table.tolist())
