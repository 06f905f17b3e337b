"""A vertical party's own files: its training CSV, optional CSV of new rows to score, and
(label party only) the label column, read into a :class:`~rengo.vfl.PartyData`.

IDs stay the exact strings in the file (``007`` and ``7`` differ). Labels must have two
classes; the second in sorted order is the positive one (``0``/``1``: ``1``). Each party
standardises its columns with the mean and spread of its *own* training rows, so nothing
about its data leaves it and the scoring rows get the same transform.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data import Dataset
from rengo.data.categorical import CategoricalEncoding, source_columns
from rengo.data.csv_table import (
    CsvFormat,
    CsvScan,
    csv_header,
    load_csv,
    load_csv_and_column,
    partial_labels,
)
from rengo.data.dataset import column_scaling
from rengo.data.exposure import check_exposure_column
from rengo.data.exposure_column import exposure_cells
from rengo.data.labels import class_list, encode_labels
from rengo.vfl.common import PartyData, PartyTable, scaled
from rengo.vfl.shared_rows import Scaling, ScoringRowsFile, SharedRowsFile

__all__ = [
    "LABEL_TASKS",
    "LabelTask",
    "PartyData",
    "column_scaling",
    "load_party_data",
    "load_scoring_data",
    "scaled",
]


class LabelTask(str, Enum):
    """What a party's label column holds (``rengo vfl party --task``)."""

    classification = "classification"
    multiclass = "multiclass"
    regression = "regression"


LABEL_TASKS: tuple[str, ...] = tuple(task.value for task in LabelTask)
"""Every :class:`LabelTask`, in the order the CLI lists them."""


def load_party_data(
    csv_path: str | Path,
    id_column: str,
    *,
    label: str | None = None,
    score_csv: str | Path | None = None,
    features: list[str] | None = None,
    standardize: bool = True,
    delimiter: str = ",",
    task: str = "classification",
    encoding: str = "utf-8",
    decimal: str = ".",
    shared_rows_later: bool = False,
    say: Callable[[str], None] | None = None,
    exposure: str | None = None,
) -> PartyData:
    """Read a party's training CSV (and scoring CSV) into tables.

    Parameters
    ----------
    csv_path
        The training table.
    id_column
        The ID column (matched by PSI; IDs stay the exact strings in the file).
    label
        The label column (the label party's; the scoring CSV may have it too, for
        evaluation, or not). A transfer-learning target's few labels go here too, blank
        where it has none: a column with blank cells is read as class names (``None`` where
        blank), and a label party's blank label is refused when the run starts.
    score_csv
        New rows to score, with the same feature columns.
    features
        Columns to use (default: all but the ID and label).
    standardize
        Z-score each column with this party's own training statistics.
    delimiter
        The CSV delimiter.
    task
        What the label holds: ``"classification"`` (two classes), ``"multiclass"`` (two
        or more: one-vs-rest hetero LR, multiclass SecureBoost) or ``"regression"``
        (numbers, for linear and Poisson regression).
    encoding, decimal
        The CSVs' text encoding and the decimal separator of their numbers (see
        :func:`~rengo.data.load_csv`).
    shared_rows_later
        Read the training table's features only once PSI has named the shared rows (a
        deployed party's :mod:`~rengo.vfl.shared_rows`): every cell is checked now, and
        the IDs and labels kept, but no features are held; ``table`` then holds the IDs,
        ``later`` reads the shared rows' features, and the scaling (``mean``, ``scale``,
        the scoring rows' z-scores) is known once it has (``later.scaling()``).
    say
        With ``shared_rows_later``: told a line when the shared rows are read.
    exposure
        The label party's exposure column (years insured: a Poisson model's offset), read
        beside its labels and never a feature; the scoring CSV's, where it has the column,
        weighs the held-out evaluation (the scores are rates either way).

    Returns
    -------
    PartyData
        Tables, labels, classes, feature names and the column scaling.

    Raises
    ------
    DataError
        For unreadable files, missing columns, a label without two classes, or scoring
        labels unseen in training.
    """
    if task not in LABEL_TASKS:
        raise ConfigError(f"task {task!r}: choose {', '.join(LABEL_TASKS)}")
    form = CsvFormat.checked(delimiter, encoding, decimal)
    if exposure is not None:
        features = _features_beside_exposure(
            Path(csv_path), id_column, label, exposure, features, form
        )
    regression = task == "regression"
    kind: Literal["classification", "regression"] = "regression" if regression else "classification"
    train_path = Path(csv_path)
    later = None
    if shared_rows_later:
        later = SharedRowsFile(train_path, id_column, features, form, standardize, say=say)
        train, few = _training_scan(later, label, kind)
        assert train.ids is not None
        table = PartyTable(train.ids, np.empty((len(train.ids), 0)))
    else:
        whole, few = _training_table(train_path, id_column, label, kind, features, form)
        assert whole.ids is not None
        table = PartyTable(whole.ids, whole.X)
        train = CsvScan(whole.ids, whole.y, whole.classes, None, whole.feature_names)
    classes: tuple[str, ...] | None = None
    labels = None
    if few is not None:
        labels = few
        known = sorted({name for name in few.tolist() if name is not None})
        classes = (known[0], known[1]) if len(known) == 2 else None
    elif label is not None and regression:
        labels = np.asarray(train.y, dtype=np.float64)
    elif label is not None:
        wanted = 2 if task == "classification" else None  # multiclass: two or more
        found_classes = () if train.classes is None else tuple(train.classes)
        if len(found_classes) < 2 or (wanted is not None and len(found_classes) != wanted):
            found = "none" if train.classes is None else class_list(found_classes, count=True)
            more = "" if wanted is None else " (--task multiclass: a label of more classes)"
            raise DataError(
                f"{train_path}: label {label!r} must have two classes, found {found}{more}"
            )
        classes = found_classes  # more than two: a plan of a binary model refuses them
        labels = train.y
    score_table = score_labels = score_later = None
    if score_csv is not None:
        score_path = Path(score_csv)
        header = csv_header(score_path, delimiter, encoding)
        score_label = label if label is not None and label in header else None
        if few is not None and classes is None:
            score_label = None  # its few labels name no two classes to evaluate against
        scoring = _scoring_rows(
            score_path,
            id_column,
            list(train.feature_names),
            score_label,
            kind,
            form,
            None if later is None else later.scaling,
            say,
        )
        score_table, score_later = scoring.table, scoring.later
        if score_label is not None:
            score_labels = _scoring_labels(scoring.y, scoring.classes, classes, score_path)
    exposures = score_exposure = None
    if exposure is not None:
        exposures = _exposure_of(train_path, id_column, exposure, form, np.asarray(table.ids))
        if score_csv is not None and score_table is not None:
            score_exposure = _score_exposure(
                Path(score_csv),
                id_column,
                exposure,
                form,
                np.asarray(score_table.ids),
                None if score_labels is None else label,
            )
    mean = scale = None
    if later is not None:
        return PartyData(
            table,
            labels,
            score_table,
            score_labels,
            classes,
            tuple(train.feature_names),
            later=later,
            score_later=score_later,
            exposure=exposures,
            score_exposure=score_exposure,
        )
    if standardize:
        mean, scale = column_scaling(table.features)
        table = scaled(table, mean, scale, in_place=True)  # the table just read, held once
        score_table = (
            None if score_table is None else scaled(score_table, mean, scale, in_place=True)
        )
    return PartyData(
        table,
        labels,
        score_table,
        score_labels,
        classes,
        tuple(train.feature_names),
        mean,
        scale,
        exposure=exposures,
        score_exposure=score_exposure,
    )


def _features_beside_exposure(
    path: Path,
    id_column: str,
    label: str | None,
    exposure: str,
    features: list[str] | None,
    form: CsvFormat,
) -> list[str]:
    """The feature columns of a label party with an exposure column: those given (which
    must leave it out), else every column but the ID, the label and the exposure.

    Raises
    ------
    ConfigError
        For an exposure without a label (only the label party has one), one that is the
        label or ID column, or one among ``features``.
    DataError
        For a file without the exposure column.
    """
    if label is None:
        raise ConfigError(
            f"--exposure {exposure!r} is the label party's (it multiplies the expected count "
            "of its labels): give --label too, or leave --exposure out at a feature party"
        )
    check_exposure_column(exposure, label, id_column, "--exposure")
    header = csv_header(path, form.delimiter, form.encoding)
    if exposure not in header:
        raise DataError(f"{path}: no exposure column {exposure!r}; columns are {header}")
    if features is not None:
        if exposure in features:
            raise ConfigError(
                f"--features names the exposure column {exposure!r}: it is the offset of the "
                "label party's model, never a feature; leave it out of --features"
            )
        return features
    return [c for c in header if c not in (id_column, label, exposure)]


def _exposure_of(
    path: Path, id_column: str, exposure: str, form: CsvFormat, ids: np.ndarray
) -> np.ndarray:
    """The ``exposure`` column of ``path``, one positive value per row of ``ids`` (the
    file's rows, in its order), every cell checked naming the file, line, row and column."""
    table, column = load_csv_and_column(
        path,
        exposure,
        id_column,
        features=[],
        delimiter=form.delimiter,
        encoding=form.encoding,
        decimal=form.decimal,
    )
    if not np.array_equal(np.asarray(table.ids), ids):  # pragma: no cover - one file, one order
        raise DataError(f"{path}: the exposure column's rows are not the table's")
    return exposure_cells(column, str(path), form.decimal)


def _score_exposure(
    path: Path,
    id_column: str,
    exposure: str,
    form: CsvFormat,
    ids: np.ndarray,
    label: str | None,
) -> np.ndarray | None:
    """The scoring CSV's exposure column where it has one (for the held-out evaluation of
    counts against ``exposure * rate``); None where it has none and holds no labels
    (``label`` None): new rows to score need no exposure, their scores being rates.

    Raises
    ------
    DataError
        For rows with labels (the ``label`` column) but no exposure column: their counts
        cannot be evaluated against rates.
    """
    header = csv_header(path, form.delimiter, form.encoding)
    if exposure in header:
        return _exposure_of(path, id_column, exposure, form, ids)
    if label is not None:
        raise DataError(
            f"{path}: has the label column {label!r} but no exposure column {exposure!r}, "
            f"which the model was trained with: the held-out evaluation compares each row's "
            f"count with {exposure!r} * rate; add the column, or score without labels "
            f"(leave --label out, or the column out of the file) for rates alone"
        )
    return None


def _training_table(
    path: Path,
    id_column: str,
    label: str | None,
    task: Literal["classification", "regression"],
    features: list[str] | None,
    form: CsvFormat,
) -> tuple[Dataset, np.ndarray | None]:
    """A party's training table and, when its class label column has blank cells, those
    few labels as class names (``None`` where blank: transfer learning's target; a label
    party's blank label is refused once the run names it the label party), read in one
    pass; the labels are in the table when every row has one."""
    header = csv_header(path, form.delimiter, form.encoding)
    if label is None or task == "regression" or label not in header:
        table = load_csv(  # a label column the header lacks is named by load_csv
            path,
            label=label,
            id_column=id_column,
            features=features,
            delimiter=form.delimiter,
            encoding=form.encoding,
            decimal=form.decimal,
            missing_values=("",),
            task=task,
        )
        return table, None
    table, column = load_csv_and_column(
        path,
        label,
        id_column,
        features=features,
        delimiter=form.delimiter,
        encoding=form.encoding,
        decimal=form.decimal,
        missing_values=("",),
    )
    if not all(column.cells):
        return table, partial_labels(column)
    y, classes = encode_labels(np.array(column.cells, dtype=str), task, column.where)
    return replace(table, y=y, classes=classes), None


def _training_scan(
    source: SharedRowsFile, label: str | None, task: Literal["classification", "regression"]
) -> tuple[CsvScan, np.ndarray | None]:
    """:func:`_training_table`'s first pass over ``source``: the IDs and labels (the few
    labels, as class names, when the label column has blank cells), every cell checked."""
    header = csv_header(source.path, source.form.delimiter, source.form.encoding)
    if label is None or task == "regression" or label not in header:
        return source.first_pass(label, None, task), None
    scan = source.first_pass(None, label, "classification")
    assert scan.text is not None
    column = scan.text
    if not all(column.cells):
        return scan, partial_labels(column)
    y, classes = encode_labels(np.array(column.cells, dtype=str), task, column.where)
    return replace(scan, y=y, classes=classes, text=None), None


def load_scoring_data(
    score_csv: str | Path,
    id_column: str,
    features: list[str],
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    delimiter: str = ",",
    *,
    label: str | None = None,
    classes: Sequence[str] | None = None,
    encoding: str = "utf-8",
    decimal: str = ".",
    shared_rows_later: bool = False,
    say: Callable[[str], None] | None = None,
    categories: CategoricalEncoding | None = None,
    exposure: str | None = None,
) -> PartyData:
    """A party's new rows to score with a model it kept (a scoring-only run): the columns
    it trained on, z-scored with its training ``mean`` and ``scale`` when it kept them, and
    (the label party, when the file has the ``label`` column) their true labels, so that
    it can evaluate the kept model on them.

    Parameters
    ----------
    score_csv
        The new rows (other columns, a label among them, are ignored).
    id_column
        The ID column.
    features
        The columns the model was trained on, in training's order.
    mean, scale
        The training scaling (``None``: rows are scored as they are).
    delimiter
        The CSV delimiter.
    label
        The label column (the label party only); rows are scored without labels when the
        file lacks it.
    classes
        Training's two class names, the second the positive one (``None``: the label holds
        numbers, for regression).
    encoding, decimal
        The CSV's text encoding and the decimal separator of its numbers (see
        :func:`~rengo.data.load_csv`).
    shared_rows_later
        Read the rows' features only once scoring's PSI has named the rows every party
        holds (:class:`~rengo.vfl.shared_rows.ScoringRowsFile`): every cell is checked
        now and the IDs and labels kept; ``score_table`` then holds the IDs and
        ``score_later`` reads the shared rows' features, z-scored.
    say
        With ``shared_rows_later``: told a line when the shared rows are read.
    categories
        How training one-hot encoded the party's text columns (its model file keeps it):
        ``features`` then name the one-hot columns (``region=north``), the file holds the
        text columns, and its rows are read whole and encoded into the same columns (an
        unseen category as training's policy says).
    exposure
        The exposure column a Poisson label party's model was trained with (its model
        file names it): where the file has it, each row's exposure is read into
        ``score_exposure``, so that the held-out evaluation compares a row's count with
        its exposure times the predicted rate, as training's did. The scores stay rates
        either way, and rows without labels need no exposure.

    Returns
    -------
    PartyData
        No training table; the scoring table, its labels and exposure when known, feature
        names, classes and scaling.

    Raises
    ------
    DataError
        For an unreadable file, a missing column (named), labels of classes training
        did not have, labels without the ``exposure`` column or a bad exposure cell
        (naming its line), or (``categories``) a text column that does not encode into
        training's columns or holds an unseen category refused by its policy.
    """
    score_path = Path(score_csv)
    header = csv_header(score_path, delimiter, encoding)
    known = label if label is not None and label in header else None
    task: Literal["classification", "regression"] = (
        "regression" if classes is None else "classification"
    )
    form = CsvFormat.checked(delimiter, encoding, decimal)
    if mean is not None and scale is not None:
        mean, scale = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    trained: tuple[np.ndarray | None, np.ndarray | None] = (mean, scale)
    later = shared_rows_later and categories is None  # one-hot columns: read whole
    scoring = _scoring_rows(
        score_path,
        id_column,
        list(features),
        known,
        task,
        form,
        (lambda: trained) if later else None,
        say,
        categories,
    )
    score_labels = (
        None if known is None else _scoring_labels(scoring.y, scoring.classes, classes, score_path)
    )
    table = scoring.table
    score_exposure = (
        None
        if exposure is None
        else _score_exposure(score_path, id_column, exposure, form, np.asarray(table.ids), known)
    )
    if scoring.later is None and mean is not None and scale is not None:
        table = scaled(table, mean, scale)
    return PartyData(
        None,
        None,
        table,
        score_labels,
        None if classes is None else tuple(classes),
        tuple(features),
        mean,
        scale,
        score_later=scoring.later,
        score_exposure=score_exposure,
    )


@dataclass
class _ScoringRows:
    """A scoring CSV as read: its table (IDs only when ``later`` reads the features after
    PSI), its encoded labels and their classes (``None``: none read)."""

    table: PartyTable
    y: np.ndarray | None
    classes: tuple[str, ...] | None
    later: ScoringRowsFile | None


def _scoring_rows(
    path: Path,
    id_column: str,
    features: list[str],
    label: str | None,
    task: Literal["classification", "regression"],
    form: CsvFormat,
    scaling: Scaling | None,
    say: Callable[[str], None] | None,
    categories: CategoricalEncoding | None = None,
) -> _ScoringRows:
    """A scoring CSV's ``features`` (in that order), IDs and ``label``: read whole
    (``scaling`` None; unscaled), or in two passes, the features of the rows scoring's PSI
    shares read after it and z-scored with ``scaling()`` (see
    :class:`~rengo.vfl.shared_rows.ScoringRowsFile`); either way every cell is checked now,
    with the same messages."""
    if scaling is None:
        columns = features if categories is None else source_columns(features, categories)
        whole = load_csv(
            path,
            label=label,
            delimiter=form.delimiter,
            encoding=form.encoding,
            decimal=form.decimal,
            id_column=id_column,
            features=list(columns),
            missing_values=("",),
            task=task,
            categories=None if categories is None else categories.categories,
            unseen="zeros" if categories is None else categories.unseen,
        )
        if whole.feature_names != tuple(features):  # pragma: no cover - a damaged file
            raise DataError(
                f"{path}: encodes into columns {list(whole.feature_names)}, not the "
                f"model's {features}"
            )
        assert whole.ids is not None
        return _ScoringRows(PartyTable(whole.ids, whole.X), whole.y, whole.classes, None)
    source = SharedRowsFile(path, id_column, features, form, standardize=False, say=say)
    scan = source.first_pass(label, None, task)
    assert scan.ids is not None
    table = PartyTable(scan.ids, np.empty((len(scan.ids), 0)))
    return _ScoringRows(table, scan.y, scan.classes, ScoringRowsFile(source, scaling))


def _scoring_labels(
    y: np.ndarray | None,
    found: Sequence[str] | None,
    classes: Sequence[str] | None,
    source: Path,
) -> np.ndarray:
    """The labels of rows to score (``y``, encoded over the ``found`` classes): numbers
    (``classes`` None: regression), else each row's class code in training's ``classes``
    (two classes: 1 for the positive one, the last, and 0 for the other; more: the index
    of its class, as a one-vs-rest model's probability columns are ordered), whatever
    classes the rows to score have.

    Raises
    ------
    DataError
        For classes training did not have.
    """
    if y is None:
        raise DataError(f"{source}: this table has no label column")
    if classes is None:
        return np.asarray(y, dtype=np.float64)
    assert found is not None
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataError(f"{source}: label classes {unknown} not seen in training")
    code = {name: k for k, name in enumerate(classes)}
    codes: np.ndarray = np.array([code[name] for name in found], dtype=np.int64)[y]
    return codes
