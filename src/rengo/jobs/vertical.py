"""Vertical jobs: each party's own tables, the held-out customers, training and scoring.

Every party prepares its data alone, the same way in simulation (``rengo run JOB.toml``)
and deployed (``rengo vfl party --job JOB.toml``): it reads its own table (its CSV, or its
columns of a bundled table split by the job's seed), holds out the customers whose ID hashes
below ``test_size`` under the job's seed (every party picks the same customers without
exchanging anything), and standardises its columns with its own training statistics (nothing
about its data leaves it). Rows are aligned by private set intersection inside the run, so a
deployed run from the same job file equals the simulated one.

What each party learns of the held-out customers: the rule (``job.seed``, ``test_size``),
from its own job file and the coordinator's plan, and so which of its own customers another
party holds out if it has them; not whether it has them (PSI joins training rows only). A
transfer source, whose rows are never scored, therefore holds out every customer the rule
marks (:func:`holds_out_rows`): that keeps the target's held-out customers out of its
training without it learning which they are.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.options import options_to_wire
from rengo.core.roles import COORDINATOR
from rengo.data import Dataset, Standardization, load_dataset, vertical_split
from rengo.data.categorical import CategoricalColumns, CategoricalEncoding, source_columns
from rengo.data.csv_table import (
    CsvFormat,
    TextColumn,
    csv_header,
    load_csv,
    load_csv_and_column,
    partial_labels,
)
from rengo.data.dataset import column_scaling
from rengo.data.exposure_column import exposure_cells
from rengo.data.labels import MissingLabelError, class_list, label_values
from rengo.jobs.data_files import BUNDLED_DATA, bundled_data, job_data_files
from rengo.jobs.live_epochs import LiveEpochs, epochs_named_on_failure
from rengo.jobs.spec import JobSpec
from rengo.jobs.vertical_spec import OperatingTargets, VflSection
from rengo.metrics import (
    average_precision,
    calibration,
    ks_statistic,
    macro_f1,
    macro_ovr_auc,
    mae,
    multiclass_log_loss,
    operating_points,
    r2_score,
    reliability_records,
    reliability_table,
    rmse,
    roc_auc,
)
from rengo.tracking.column_importance import FEATURE_NAMES
from rengo.tracking.iv_selection_table import IV_SELECTION
from rengo.tracking.model_export import PartyCategories, secureboost_blob, vertical_parts_blob
from rengo.tracking.reliability import RELIABILITY, TEST_ROWS
from rengo.tracking.resume_settings import DATA_FILES
from rengo.tracking.run import open_run
from rengo.tracking.splitnn_model import splitnn_blob
from rengo.tracking.transfer_model import transfer_blob
from rengo.vfl import (
    HeldOutRule,
    PartyData,
    PartyTable,
    ProgressFn,
    VerticalDataset,
    VerticalEstimator,
)
from rengo.vfl.checkpoints import ChangedTable
from rengo.vfl.common import scaled
from rengo.vfl.progress import epoch_clock
from rengo.vfl.psi.ids import normalise_ids
from rengo.vfl.registry import RoleKind, VerticalAlgorithm
from rengo.vfl.runner import VerticalPlan, check_party_columns
from rengo.vfl.secureboost import HeteroSecureBoost
from rengo.vfl.selection_settings import JobSelection
from rengo.vfl.shared_rows import SharedRowsFile

RUN_KIND = "vfl"


@dataclass
class VerticalJob:
    """Training and held-out data for every party, the held-out labels (of the party that
    scores them), the model, the labels of feature parties that hold some, and each party's
    column scaling (its raw columns become ``(X - mean) / scale``) and how each party that
    has text columns one-hot encoded them."""

    spec: JobSpec
    train: VerticalDataset
    test: VerticalDataset
    test_labels: np.ndarray
    model: VerticalEstimator
    other_labels: dict[str, np.ndarray] = field(default_factory=dict)
    scalers: dict[str, Standardization] = field(default_factory=dict)
    categories: dict[str, CategoricalEncoding] = field(default_factory=dict)
    classes: tuple[str, ...] | None = None
    """The label's class names in the order of its class codes (None: a regression, or
    labels read as codes)."""
    test_exposure: np.ndarray | None = None
    """The exposure of each held-out row of the scoring party (``[vfl] exposure``), in
    ``test_labels``' order; None: none."""

    def party_categories(self) -> dict[str, PartyCategories]:
        """Each encoding party's encoding with the table columns its part reads, in order
        (what an export writes beside that party's model file)."""
        return {
            name: PartyCategories(
                encoding, source_columns(self.train.feature_names.get(name, ()), encoding)
            )
            for name, encoding in self.categories.items()
        }


def held_out(ids: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """Which IDs are held out: BLAKE2b of (seed, ID) below ``fraction`` of its range.

    Every party computes it alone from its own IDs, and a customer is held out at every
    party that has it, so training and scoring rows agree without any message. The ID is
    hashed in the canonical bytes the PSI matches (:func:`rengo.vfl.psi.ids.normalise_ids`:
    text in Unicode NFC), so two IDs the PSI joins are always held out together.

    Raises
    ------
    DataError
        For IDs the PSI would refuse (see :func:`~rengo.vfl.psi.ids.normalise_ids`).
    """
    limit = int(fraction * 2**64)
    salt = f"rengo-holdout/{seed}/".encode()
    canonical = normalise_ids(ids, "held-out IDs").values
    digests = (hashlib.blake2b(salt + i, digest_size=8).digest() for i in canonical)
    return np.fromiter((int.from_bytes(d, "big") < limit for d in digests), bool, len(ids))


def labels_by_name(vfl: VflSection) -> bool:
    """Whether the job's algorithm lets a feature party hold labels (transfer learning).

    Then every label holder passes its labels as class *names* (``None`` where a row has
    none), so that two parties' tables, each encoding its own classes, agree on what a
    label means; the algorithm encodes them (e.g. :mod:`rengo.ftl`)."""
    return "feature_party" in vfl.spec.labels_at


def _party_header(path: str, vfl: VflSection) -> list[str]:
    """A party's CSV's column names (a DataError naming the file if the file is Parquet,
    not in the job's encoding or malformed: vertical parties read CSV)."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from exc
    if magic == b"PAR1" or path.lower().endswith((".parquet", ".pq")):
        raise DataError(
            f"{path}: a Parquet file, but vertical parties read CSV: write it as CSV first "
            "(rengo.data.save_csv(rengo.data.load_parquet(...), 'party.csv'))"
        )
    try:
        return csv_header(path, vfl.delimiter, vfl.encoding)
    except DataError as exc:
        raise DataError(f"{exc} (vertical parties read CSV)") from None


@dataclass
class _OwnTable:
    """One party's table as it holds it: ``y`` holds class names (``None`` where missing)
    when the algorithm takes labels by name; ``categories``: how it one-hot encoded its
    text columns."""

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray | None
    classes: tuple[str, ...] | None
    feature_names: tuple[str, ...]
    categories: CategoricalEncoding | None = None
    exposure: np.ndarray | None = None
    """The label party's ``vfl.exposure`` of each row, checked; None: none."""


def _own_table(vfl: VflSection, name: str, seed: int) -> _OwnTable:
    """One party's table, as it holds it (see :class:`_OwnTable`)."""
    is_label_party = name == vfl.label_party
    if vfl.parties:
        if name not in vfl.parties:
            raise ConfigError(f"{name!r} is not one of the job's parties {sorted(vfl.parties)}")
        path = vfl.parties[name]
        header = _party_header(path, vfl)
        encode = party_categorical(vfl, header)
        if not is_label_party and labels_by_name(vfl) and vfl.label in header:
            # a feature party's own few labels, blank where it has none: read by name, in
            # the same pass as its features (so labels and rows always align)
            table, column = load_csv_and_column(
                path,
                vfl.label,
                vfl.id_column,
                missing_values=("",),
                name=name,
                delimiter=vfl.delimiter,
                encoding=vfl.encoding,
                decimal=vfl.decimal,
                categorical=encode.columns,
                unseen=encode.unseen,
                max_categories=encode.max_categories,
            )
            own = partial_labels(column)
            known = sorted({n for n in own.tolist() if n is not None})
            if table.ids is None:
                raise DataError(f"{path}: needs the id column {vfl.id_column!r}")
            return _OwnTable(
                np.asarray(table.ids),
                table.X,
                own,
                tuple(known),
                tuple(table.feature_names),
                table.categories,
            )
        label = vfl.label if is_label_party else None
        if label is None and vfl.label in header:
            _warn_label_named_feature(name, path, vfl.label)
        regression = vfl.spec.output_of(vfl.options) == "values"
        read: dict[str, Any] = {
            "id_column": vfl.id_column,
            "label": label,
            "missing_values": ("",),
            "task": "regression" if regression else "classification",
            "name": name,
            "delimiter": vfl.delimiter,
            "encoding": vfl.encoding,
            "decimal": vfl.decimal,
            "categorical": encode.columns,
            "unseen": encode.unseen,
            "max_categories": encode.max_categories,
        }
        exposure = vfl.exposure if _has_exposure(vfl, name) else None  # not a feature
        if exposure is not None and exposure not in header:
            raise DataError(f"{name}: vfl.exposure = {exposure!r}, but {path} has no such column")
        cells: TextColumn | None = None  # the exposure's: beside the labels, in the same pass
        if exposure is None:
            table = load_csv(path, **read)
        else:
            table, cells = load_csv_and_column(path, exposure, **read)
        if table.ids is None:
            raise DataError(f"{path}: needs the id column {vfl.id_column!r}")
        y = table.labels() if label is not None else None
        if y is not None and labels_by_name(vfl):
            assert table.classes is not None
            y = np.asarray(table.classes, dtype=object)[y]
        return _OwnTable(
            np.asarray(table.ids),
            table.X,
            y,
            table.classes,
            tuple(table.feature_names),
            table.categories,
            None if cells is None else exposure_cells(cells, name, vfl.decimal),
        )
    assert vfl.dataset is not None
    if vfl.spec.scored_by != "label_party":
        raise ConfigError(
            f"{vfl.algorithm} scores a feature party's own rows; give each party its table in "
            "[vfl.parties] (a bundled table split by columns has labels at one party only)"
        )
    dataset: Dataset = load_dataset(vfl.dataset)
    names = vfl.party_names
    if name not in names:
        raise ConfigError(f"{name!r} is not one of the job's parties {names}")
    try:
        split = vertical_split(
            dataset, vfl.num_parties, seed, drop_fraction=vfl.drop_fraction, names=names
        )
    except ConfigError as exc:
        raise ConfigError(f"vfl.num_parties = {vfl.num_parties} on {vfl.dataset}: {exc}") from None
    party = next(p for p in split if p.name == name)
    if len(party) < 2:  # nothing to both train on and hold out
        raise DataError(
            f"{name}: vfl.drop_fraction = {vfl.drop_fraction} left this party {len(party)} of "
            f"{vfl.dataset}'s {len(dataset)} rows; lower vfl.drop_fraction"
        )
    y = None if party.y is None else np.asarray(party.y)
    return _OwnTable(np.asarray(party.ids), party.X, y, dataset.classes, tuple(party.feature_names))


def party_categorical(vfl: VflSection, header: Sequence[str]) -> CategoricalColumns:
    """The categorical columns a party encodes: those of ``vfl.categorical`` its table's
    ``header`` holds (or, with ``vfl.categorical_auto``, its text columns). A party learns
    its columns' categories from its own rows alone and sends nothing about them: other
    parties see only the one-hot columns' numbers, as they would any feature's."""
    own: Sequence[str] | Literal["auto"] = (
        "auto" if vfl.categorical_auto else [c for c in vfl.categorical if c in header]
    )
    return CategoricalColumns.checked(own, None, vfl.unseen_category, vfl.max_categories)


def check_categorical_columns(vfl: VflSection, source: str) -> None:
    """Refuse a ``vfl.categorical`` column no party's table holds (a simulated job, which
    reads every party's header; a deployed party knows only its own).

    Raises
    ------
    ConfigError
        Naming the column and each party's file and columns.
    """
    if not vfl.categorical:
        return
    headers = {name: _party_header(path, vfl) for name, path in vfl.parties.items()}
    held = {c for header in headers.values() for c in header}
    absent = [c for c in vfl.categorical if c not in held]
    if absent:
        tables = "; ".join(
            f"{name} ({vfl.parties[name]}): {header}" for name, header in headers.items()
        )
        raise ConfigError(
            f"{source}: vfl.categorical names {absent}, which no party's table holds "
            f"({tables}); fix the column name or leave it out of vfl.categorical"
        )


def _warn_label_named_feature(party: str, path: str, label: str) -> None:
    """Warn a feature party whose table has a column named like the job's label: every
    column of a feature party but the ID is a feature, so it trains as one - and a copy of
    the label among the features makes the model look perfect and predict nothing."""
    warnings.warn(
        f"{party}: {path} has a column {label!r}, the job's label name, and trains with it as a "
        f"feature (a feature party's columns are all features). If it holds the label or a "
        f"copy of it, remove it from {party}'s file; if it is another quantity, rename it",
        UserWarning,
        stacklevel=3,
    )


def party_data(
    vfl: VflSection,
    name: str,
    seed: int,
    *,
    shared_rows_later: bool = False,
    say: Callable[[str], None] | None = None,
    other_tables_here: bool = False,
) -> PartyData:
    """One party's inputs to the job's run: its training and held-out tables (standardised
    with its own training statistics), and its labels if it is the label party.

    Parameters
    ----------
    vfl
        The job's ``[vfl]`` section.
    name
        The party.
    seed
        The job's seed (the bundled split and the held-out customers).
    shared_rows_later
        A party whose table is a CSV reads its training rows' features only once PSI has
        named the shared ones (``rengo vfl party --job``; see :mod:`rengo.vfl.shared_rows`):
        every cell is checked now, and the IDs, labels and held-out rows kept; ``table``
        then holds the training IDs, ``later`` reads their features, and the scaling is
        known once it has. A bundled table is read whole either way.
    say
        With ``shared_rows_later``: told a line when the shared rows are read.
    other_tables_here
        Whether the other parties' tables are this process's (a simulated run, which reads
        every table): only then does a label missing here name the party whose table has
        it. A deployed party's job file names paths on the other parties' machines, which
        it never reads.

    Returns
    -------
    PartyData
        Everything the party brings to the run, how its columns were prepared, and the
        job's held-out rule and ``[vfl.selection]`` (checked against the coordinator's).

    Raises
    ------
    ConfigError
        If ``name`` is not one of the job's parties.
    DataError
        For unreadable tables (also a Parquet or non-UTF-8 party file: parties read UTF-8
        CSV), a missing ID column, a label without two classes, a vfl.drop_fraction that
        leaves the party under 2 rows, or a vfl.test_size that holds out all of them;
        labels on the wrong side (with ``other_tables_here``: the label party's table
        without the label column that another party's has; a transfer job's label party
        with blank labels while another party's table has the column too), naming the
        parties and the column.
    """
    header = _party_header(vfl.parties[name], vfl) if name in vfl.parties else None
    if header is not None and other_tables_here:
        _require_labels_at_label_party(vfl, name, header)
    try:
        return _party_data(vfl, name, seed, header, shared_rows_later=shared_rows_later, say=say)
    except MissingLabelError as exc:
        better = _labels_elsewhere(vfl, name, exc) if other_tables_here else None
        if better is None:
            raise
        raise better from exc


def _label_holders(vfl: VflSection, name: str) -> list[str]:
    """The job's other parties whose CSV tables have a column named like the label."""
    return [
        other
        for other, path in vfl.parties.items()
        if other != name and vfl.label in _party_header(path, vfl)
    ]


def _label_side_rule(vfl: VflSection) -> str:
    """Which side must hold the labels, in words."""
    if labels_by_name(vfl):
        return (
            "transfer learning's label party is the source, with a label on every row; the "
            "target may hold a few in a column of the same name, blank where it has none"
        )
    return "only the label party holds labels; every other party's columns are features"


def _require_labels_at_label_party(vfl: VflSection, name: str, header: Sequence[str]) -> None:
    """Refuse a label party whose table has no label column while another party's has one
    (labels on the wrong side), naming both parties, the column and the rule.

    Raises
    ------
    DataError
        As above.
    """
    if name != vfl.label_party or vfl.label in header:
        return
    path = vfl.parties[name]
    holders = _label_holders(vfl, name)
    if holders:
        raise DataError(
            f"{name} is the label party ([vfl] label_party), but its table {path} has no "
            f"{vfl.label!r} column, which {' and '.join(holders)}'s table has: the labels "
            f"are on the wrong side ({_label_side_rule(vfl)}). Set label_party = "
            f"{holders[0]!r} if that party holds them, or move the column to {name}'s table"
        )


def _labels_elsewhere(vfl: VflSection, name: str, exc: MissingLabelError) -> DataError | None:
    """A transfer-learning label party's missing label, explained when another party's
    table has the label column too: the job may name the target as its label party
    (``None``: nothing to add)."""
    if name != vfl.label_party or not labels_by_name(vfl) or not vfl.parties:
        return None
    holders = _label_holders(vfl, name)
    if not holders:
        return None
    return DataError(
        f"{name}, the label party ([vfl] label_party), has rows without a {vfl.label!r}: "
        f"{exc}. {' and '.join(holders)}'s table has {vfl.label!r} too: "
        f"{_label_side_rule(vfl)}. If {holders[0]} is the labelled source, set "
        f"label_party = {holders[0]!r}"
    )


def _party_data(
    vfl: VflSection,
    name: str,
    seed: int,
    header: Sequence[str] | None,
    *,
    shared_rows_later: bool,
    say: Callable[[str], None] | None,
) -> PartyData:
    """:func:`party_data`, its label-side checks done (``header``: the party's CSV's
    column names, ``None`` for a bundled table)."""
    # the label party's exposure column is read whole, beside its labels
    # one-hot columns need the whole read; so does an unlabelled target, which scores its
    # training rows
    if (
        shared_rows_later
        and header is not None
        and not _has_exposure(vfl, name)
        and not party_categorical(vfl, header).wanted
        and not unlabelled_target(vfl, name, vfl.label in header)
    ):
        return _party_data_later(vfl, name, seed, header, say)
    own = _own_table(vfl, name, seed)
    ids, x, y, classes, feature_names = own.ids, own.X, own.y, own.classes, own.feature_names
    _check_label_classes(vfl, name, y, classes)
    every_row = unlabelled_target(vfl, name, y is not None)
    test = np.zeros(len(ids), dtype=bool) if every_row else _training_split(vfl, name, seed, ids)
    mean, scale = column_scaling(x[~test])
    train = scaled(PartyTable(ids[~test], x[~test]), mean, scale)
    scored = ~test if every_row else test  # an unlabelled target: every row, after training
    score = scaled(PartyTable(ids[scored], x[scored]), mean, scale)
    labels = None if y is None else y[~test]
    score_labels = np.full(len(ids), None, dtype=object) if every_row else None
    if y is not None:
        score_labels = y[test]
    rule = HeldOutRule(seed, vfl.test_size)
    exposure = own.exposure
    return PartyData(
        train,
        labels,
        score,
        score_labels,
        classes,
        feature_names,
        mean,
        scale,
        rule,
        categories=own.categories,
        exposure=None if exposure is None else exposure[~test],
        score_exposure=None if exposure is None else exposure[test],
        selection=JobSelection(vfl.selection),
        rows_chosen_by=_rows_chosen_by(vfl, name),
    )


def _has_exposure(vfl: VflSection, name: str) -> bool:
    """Whether ``name`` is the label party of a job with ``vfl.exposure``."""
    return vfl.exposure is not None and name == vfl.label_party


def _check_label_classes(
    vfl: VflSection, name: str, y: np.ndarray | None, classes: tuple[str, ...] | None
) -> None:
    """Refuse a label party without labels, or whose binary label has other than two
    classes."""
    if name != vfl.label_party:
        return
    if y is None:
        raise DataError(f"label party {name!r} holds no labels")
    binary = vfl.spec.output_of(vfl.options) == "probability"
    if binary and classes is not None and len(classes) < 2:
        only = f" ({classes[0]!r})" if classes else ""
        raise DataError(
            f"{name}: label {vfl.label!r} holds one class{only} on every row: a model "
            "needs rows of two classes; give a label column with both"
        )
    if binary and classes is not None and len(classes) != 2:
        hint = ""
        if hasattr(vfl.options, "objective"):
            hint = " (or set objective = 'multiclass' in [vfl])"
        elif hasattr(vfl.options, "multi_class"):
            hint = " (or set multi_class = 'ovr' in [vfl]: one-vs-rest, one model per class)"
        raise DataError(
            f"{name}: label {vfl.label!r} must have two classes for a binary model, found "
            f"{class_list(classes, count=True)}: give a label column with two classes{hint}"
        )


def _rows_chosen_by(vfl: VflSection, name: str) -> str:
    """What a transfer source's checkpoint refusal adds to "resume with the same table":
    the setting that chose its training rows, whose default changed."""
    if vfl.spec.scored_by == "label_party" or name != vfl.label_party:
        return ""
    return (
        f" and the same [vfl] source_holds_out (now {str(vfl.source_holds_out).lower()}; "
        "its default changed from false to true, so a transfer run started when the source "
        "trained on all its labelled rows resumes with source_holds_out = false)"
    )


def holds_out_rows(vfl: VflSection, name: str) -> bool:
    """Whether party ``name`` holds ``test_size`` of its rows out of training.

    Every party does when the label party receives the predictions (the held-out customers
    are scored with every party's columns). When a feature party scores (transfer
    learning's target, with its own columns alone), the source (label party) holds out the
    same rule's customers by default, though none of its rows is scored: a customer the
    target holds out and scores must not train the source through its label (the source's
    translator ``Phi`` and terms shape every target score). The rule is a seeded hash of each
    ID (:func:`held_out`), so the source computes alone which of its customers the target
    holds out if it has them; it learns nothing of the target's held-out customers (PSI
    joins only training rows), so it cannot keep those the target lacks, and holds out
    every customer the rule marks. ``[vfl] source_holds_out = false`` trains the source on
    all its labelled rows, the target's held-out metrics then optimistic.
    """
    return vfl.spec.scored_by == "label_party" or name != vfl.label_party or vfl.source_holds_out


def unlabelled_target(vfl: VflSection, name: str, has_labels: bool) -> bool:
    """Whether ``name`` is a transfer-learning target without labels (its table has no
    label column): the usual transfer case, where knowledge crosses from the labelled
    source. It holds none of its rows out (there is nothing to evaluate them with): it
    trains on all of them, and the run scores every one after training."""
    return vfl.spec.scored_by == "feature_party" and name != vfl.label_party and not has_labels


def _held_out_rows(vfl: VflSection, name: str, seed: int, ids: np.ndarray) -> np.ndarray:
    """:func:`held_out` of a party's IDs under the job's rule, none where the party holds
    no rows out (:func:`holds_out_rows`)."""
    if not holds_out_rows(vfl, name):
        return np.zeros(len(ids), dtype=bool)
    return held_out(ids, seed, vfl.test_size)


def _training_split(vfl: VflSection, name: str, seed: int, ids: np.ndarray) -> np.ndarray:
    """Which of the party's rows the job holds out to score (the rest train).

    Raises
    ------
    DataError
        When it holds out every row.
    """
    test = _held_out_rows(vfl, name, seed, ids)
    if test.all():
        raise DataError(
            f"{name}: vfl.test_size = {vfl.test_size} holds out all {len(ids)} of its rows, "
            "leaving none to train on; lower vfl.test_size"
        )
    return test


def _party_data_later(
    vfl: VflSection,
    name: str,
    seed: int,
    header: Sequence[str],
    say: Callable[[str], None] | None,
) -> PartyData:
    """:func:`party_data` of a party with a CSV table, its training rows' features read
    after PSI (:class:`~rengo.vfl.shared_rows.SharedRowsFile`): the same IDs, labels,
    held-out rows, checks and messages, and (once read) bit for bit the same features.
    ``header`` is the table's column names, as :func:`party_data` read them."""
    path = vfl.parties[name]
    source = SharedRowsFile(
        Path(path),
        vfl.id_column,
        None,
        CsvFormat.checked(vfl.delimiter, vfl.encoding, vfl.decimal),
        say=say,
        held_out=lambda ids: _held_out_rows(vfl, name, seed, ids),
    )
    y: np.ndarray | None
    if name != vfl.label_party and labels_by_name(vfl) and vfl.label in header:
        scan = source.first_pass(None, vfl.label, "classification")  # a target's few labels
        assert scan.text is not None
        y = partial_labels(scan.text)
        classes: tuple[str, ...] | None = tuple(sorted({n for n in y.tolist() if n is not None}))
    else:
        label = vfl.label if name == vfl.label_party else None
        if label is None and vfl.label in header:
            _warn_label_named_feature(name, path, vfl.label)
        values = vfl.spec.output_of(vfl.options) == "values"
        scan = source.first_pass(label, None, "regression" if values else "classification")
        y, classes = scan.y, scan.classes
        if y is not None and labels_by_name(vfl):
            assert classes is not None
            y = np.asarray(classes, dtype=object)[y]
    assert scan.ids is not None  # the job names the id column, which the scan requires
    ids = np.asarray(scan.ids)
    _check_label_classes(vfl, name, y, classes)
    test = _training_split(vfl, name, seed, ids)
    mask = source.held_out_mask()
    assert mask is not None and np.array_equal(mask, test)  # one rule, chunk by chunk
    score = PartyTable(ids[test], source.held_out_features())
    source.score = score  # z-scored in place once the training rows' spread is known
    train = PartyTable(ids[~test], np.empty((int((~test).sum()), 0)))
    labels = None if y is None else y[~test]
    score_labels = None if y is None else y[test]
    rule = HeldOutRule(seed, vfl.test_size)
    names = tuple(scan.feature_names)
    return PartyData(
        train,
        labels,
        score,
        score_labels,
        classes,
        names,
        held_out=rule,
        later=source,
        selection=JobSelection(vfl.selection),
        rows_chosen_by=_rows_chosen_by(vfl, name),
    )


def job_plan(spec: JobSpec, *, score: bool = True) -> VerticalPlan:
    """The plan of a vertical job's run: its parties, algorithm, options and seed."""
    vfl = spec.vfl
    if vfl is None:
        raise ConfigError(f"{spec.source}: not a vertical job")
    names = vfl.party_names
    return VerticalPlan(
        names[0], tuple(names[1:]), vfl.options, spec.job.seed, score=score, algorithm=vfl.algorithm
    )


def build_vertical_job(spec: JobSpec, *, shared_rows_later: bool = True) -> VerticalJob:
    """Every party's tables (see :func:`party_data`) and the algorithm's estimator.

    Parameters
    ----------
    spec
        The job.
    shared_rows_later
        A party whose table is a CSV reads its training rows' features only once PSI has
        named the shared ones, as a deployed party does (see :func:`party_data`): the run
        holds the IDs, labels and held-out rows of every row, and the features of the shared
        training rows only; its models, scores and metrics are bit for bit those of a whole
        read. False, or a job with ``[contribution]`` (valuing each party's contribution
        retrains on every training row): every table read whole.

    Returns
    -------
    VerticalJob
        The parties' data and the estimator (each party's column scaling is known once
        the run has read its shared rows: :func:`run_vertical_job` fills ``scalers``).

    Raises
    ------
    ConfigError
        If ``spec`` is not a vertical job.
    DataError
        For bad tables (see :func:`party_data`).
    """
    vfl = spec.vfl
    if vfl is None:
        raise ConfigError(f"{spec.source}: not a vertical job")
    later = shared_rows_later and spec.contribution is None
    if vfl.parties:
        check_categorical_columns(vfl, spec.source)
    data = {
        name: party_data(vfl, name, spec.job.seed, shared_rows_later=later, other_tables_here=True)
        for name in vfl.party_names
    }
    for name, inputs in data.items():  # here, where the columns' names are known
        kind: RoleKind = "label_party" if name == vfl.label_party else "feature_party"
        check_party_columns(vfl.spec, vfl.options, kind, name, inputs)
    label = data[vfl.label_party]
    assert label.labels is not None
    scored = scoring_party(vfl)
    truth = data[scored].score_labels
    if truth is None:
        raise DataError(
            f"{scored} scores the held-out rows but its table has no {vfl.label!r} column "
            "to evaluate them with"
        )
    if vfl.spec.metrics is None and not unlabelled_target(
        vfl, scored, data[scored].labels is not None
    ):
        require_evaluable(truth, scored, vfl, data[scored].classes)
    train = {name: d.table for name, d in data.items() if d.table is not None}
    test = {name: d.score_table for name, d in data.items() if d.score_table is not None}
    options: dict[str, Any] = options_to_wire(vfl.options)
    model = VerticalEstimator.for_algorithm(vfl.spec)(seed=spec.job.seed, **options)
    others = {
        name: d.labels
        for name, d in data.items()
        if name != vfl.label_party and d.labels is not None
    }
    return VerticalJob(
        spec,
        VerticalDataset(
            train,
            vfl.label_party,
            label.labels,
            {name: d.feature_names for name, d in data.items() if d.feature_names},
            {name: d.later for name, d in data.items() if d.later is not None},
            exposure=label.exposure,
        ),
        VerticalDataset(test, vfl.label_party),
        truth,
        model,
        others,
        {
            name: Standardization(mean=d.mean, scale=d.scale)
            for name, d in data.items()
            if d.mean is not None and d.scale is not None
        },
        {name: d.categories for name, d in data.items() if d.categories is not None},
        label.classes,
        data[scored].score_exposure,
    )


def require_evaluable(
    truth: np.ndarray, scored: str, vfl: VflSection, classes: Sequence[str] | None = None
) -> None:
    """Refuse, before training, held-out labels the run could not be evaluated on: none
    known (a transfer target's labels may be few or none), or one class where the metric
    (AUC) needs both. ``classes`` names the class codes of ``truth`` (for the message).

    Raises
    ------
    DataError
        Naming the scoring party, its held-out row count and the fix.
    """
    if not len(truth):  # a small table: the ID hash held out none of its rows
        raise DataError(
            f"{scored} holds out none of its rows to score: [vfl] test_size = "
            f"{vfl.test_size} picks a row by a hash of its ID, and picked none of this table's; "
            "give the parties more rows, or raise test_size"
        )
    known = {str(t) for t in truth.tolist() if t is not None}
    fix = f"label more of its rows, or raise [vfl] test_size (now {vfl.test_size})"
    if not known:
        raise DataError(
            f"{scored} scores the {len(truth)} held-out rows, but none of them has a known "
            f"{vfl.label!r} to evaluate with: {fix}"
        )
    if vfl.spec.output_of(vfl.options) == "probability" and len(known) < 2:
        only = sorted(known)[0]
        if classes is not None and not labels_by_name(vfl) and only.isdigit():
            only = classes[int(only)]  # a class code: show the class's name
        raise DataError(
            f"{scored}'s held-out rows with a known {vfl.label!r} are all {only}: "
            f"the held-out AUC needs both classes; {fix}"
        )


def scoring_party(vfl: VflSection) -> str:
    """The party that receives the predictions: the label party, or (an algorithm scored at
    a feature party, e.g. transfer learning's target) the one feature party.

    Raises
    ------
    ConfigError
        If the algorithm scores at a feature party and the job has several.
    """
    if vfl.spec.scored_by == "label_party":
        return vfl.label_party
    hosts = vfl.party_names[1:]
    if len(hosts) != 1:
        raise ConfigError(f"{vfl.algorithm} takes one feature party, the job names {hosts}")
    return hosts[0]


def truth_codes(truth: np.ndarray, model: Any) -> np.ndarray:
    """Held-out labels as the class codes predictions use: class names (labels passed by
    name, see :func:`labels_by_name`) become indices into the scoring model's ``classes``.

    Raises
    ------
    DataError
        For a held-out label the model has no class for.
    """
    values = np.asarray(truth)
    if values.dtype != object:
        return values
    classes = list(getattr(model, "classes", ()) or ())
    index = {str(name): k for k, name in enumerate(classes)}
    unknown = sorted({str(v) for v in values.tolist() if str(v) not in index})
    if unknown:
        raise DataError(f"held-out labels {unknown[:5]} are not among the classes {classes}")
    return np.array([index[str(v)] for v in values.tolist()], dtype=np.int64)


def prediction_output(output: str, predictions: Any) -> str:
    """What ``predictions`` are, given the kind the algorithm's config declares (see
    :data:`rengo.vfl.registry.Output`): a matrix (a row of scores per row) is always
    ``"probabilities"``, one class probability a column, whatever was declared (a loaded
    one-vs-rest model scored under a binary plan, a kind named by the caller); anything
    else is ``output``."""
    return "probabilities" if np.ndim(predictions) == 2 else output


def evaluate(
    output: str,
    truth: np.ndarray,
    predictions: np.ndarray,
    targets: OperatingTargets | None = None,
) -> dict[str, float]:
    """The held-out metrics for an algorithm's kind of prediction (see
    :data:`rengo.vfl.registry.Output`): AUC, KS and average precision for binary
    probabilities, their calibration (``brier`` and ``ece``, see
    :func:`rengo.metrics.calibration`) and the operating points of ``targets`` (see
    :func:`rengo.metrics.operating_points`), accuracy for classes, accuracy, macro F1, log
    loss and macro one-vs-rest AUC for class probabilities
    (:func:`class_probability_metrics`), RMSE, MAE and R^2 for values.

    Parameters
    ----------
    output
        The kind the algorithm declares; 2-D ``predictions`` are read as class
        probabilities whatever it says (:func:`prediction_output`).
    truth
        The true labels (class codes, 0/1 or values), one per row.
    predictions
        One prediction per row, or a row of class probabilities per row.
    targets
        The recall and precision of the operating points (binary probabilities).

    Returns
    -------
    dict[str, float]
        Metric name (lower case) to value.

    Raises
    ------
    DataError
        If the predictions cannot be evaluated against ``truth`` (shapes, one class).
    """
    output = prediction_output(output, predictions)
    if output == "probability":
        wanted = targets or OperatingTargets()
        try:  # a registered algorithm's scores outside [0, 1] have no calibration, only ranks
            calibrated = calibration(truth, predictions)
        except DataError:
            calibrated = {}
        return {
            "auc": roc_auc(truth, predictions),
            "ks": ks_statistic(truth, predictions),
            "average_precision": average_precision(truth, predictions),
            **calibrated,
            **operating_points(
                truth, predictions, recall=wanted.recall, precision=wanted.precision
            ),
        }
    if output == "probabilities":
        return class_probability_metrics(truth, predictions)
    if output == "classes":
        return {"accuracy": float(np.mean(predictions == truth))}
    return {
        "rmse": rmse(truth, predictions),
        "mae": mae(truth, predictions),
        "r2": r2_score(truth, predictions),
    }


def class_probability_metrics(truth: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1 of the most probable class, the multi-class log loss and (with
    rows of two classes or more) the macro one-vs-rest AUC of rows of class probabilities,
    each as scikit-learn computes it (see :mod:`rengo.metrics`).

    A held-out row of a class the model has no column for (a class whose every row was
    held out) counts as wrong in the accuracy and macro F1; the log loss and AUC, which need
    its probability, are then left out rather than failing a run that trained.

    Parameters
    ----------
    truth
        Class codes ``0..K-1``, one per row.
    proba
        An ``(n, K)`` matrix of class probabilities.

    Returns
    -------
    dict[str, float]
        ``accuracy``, ``macro_f1``, ``log_loss`` and ``macro_auc_ovr``.
    """
    predicted = np.argmax(proba, axis=1)
    codes = np.asarray(truth).astype(np.int64)
    metrics = {
        "accuracy": float(np.mean(predicted == codes)),
        "macro_f1": macro_f1(codes, predicted),
    }
    if codes.size and int(codes.max()) >= np.shape(proba)[1]:  # a class never trained on
        return metrics
    metrics["log_loss"] = multiclass_log_loss(codes, proba)
    if len(np.unique(codes)) >= 2:
        metrics["macro_auc_ovr"] = macro_ovr_auc(codes, proba)
    return metrics


def evaluate_known(
    output: str,
    truth: np.ndarray,
    predictions: np.ndarray,
    model: Any,
    targets: OperatingTargets | None = None,
) -> dict[str, float]:
    """:func:`evaluate` on the rows whose true label is known (labels passed by name may be
    ``None``), with names turned into the scoring model's class codes.

    Raises
    ------
    DataError
        If no scored row has a known label.
    """
    codes, scores = _known_rows(truth, predictions, model)
    if not len(codes):
        raise DataError("none of the scored rows has a known label to evaluate with")
    return evaluate(output, codes, scores, targets)


def _known(truth: np.ndarray) -> np.ndarray:
    """Which scored rows' true labels are known (labels passed by name may be ``None``)."""
    return np.array([t is not None for t in truth.tolist()], dtype=bool)


def known_label_count(truth: np.ndarray) -> int:
    """How many scored rows have a known true label: the rows the held-out metrics and the
    reliability table are computed on (a transfer-learning target labels few of its rows).

    Parameters
    ----------
    truth
        The scored rows' true labels (``None`` where a row has none).

    Returns
    -------
    int
        The number of rows whose label is not ``None``.
    """
    return int(_known(truth).sum())


def evaluated_rows_phrase(scored: int, evaluated: int) -> str:
    """``"on the 34 with a known label: "`` before the metrics of ``scored`` rows, when fewer
    than all of them were evaluated (empty when every scored row was)."""
    return "" if evaluated == scored else f"on the {evaluated} with a known label: "


def _known_rows(
    truth: np.ndarray, predictions: np.ndarray, model: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The class codes and predictions of the scored rows whose true label is known (labels
    passed by name may be ``None``)."""
    known = _known(truth)
    return truth_codes(truth[known], model), np.asarray(predictions)[known]


def held_out_metrics(
    spec: VerticalAlgorithm[Any],
    config: Any,
    truth: np.ndarray,
    predictions: np.ndarray,
    model: Any,
    targets: OperatingTargets | None = None,
    exposure: np.ndarray | None = None,
) -> dict[str, float]:
    """The metrics a run reports on its scored rows, the same in simulation (``rengo run``)
    and deployed (``rengo vfl party``): the algorithm's own (Poisson regression: the mean
    deviance first; with an exposure, its ``exposure_metrics`` of the predicted rates),
    else :func:`evaluate_known` for its kind of prediction.

    Parameters
    ----------
    spec
        The algorithm's registered description.
    config
        Its config (what it predicts may depend on it).
    truth
        The scored rows' true labels.
    predictions
        The predictions, one per scored row (a row of class probabilities each is read
        as such whatever ``config`` declares, :func:`prediction_output`).
    model
        The scoring party's model (its classes).
    targets
        The recall and precision to report operating points for (binary probabilities;
        the job's ``[vfl] target_recall`` and ``target_precision``).
    exposure
        Each scored row's exposure (``[vfl] exposure``; the predictions are then rates).

    Returns
    -------
    dict[str, float]
        Metric name (lower case) to value.

    Raises
    ------
    DataError
        If the scored rows cannot be evaluated (no known label; AUC with one class only),
        saying that they are the held-out rows every party holds.
    """
    if len(truth) and not known_label_count(truth):
        raise DataError(
            f"none of the {len(truth)} scored rows has a known label, so none is evaluated: "
            "the scoring party's table has no label column (a transfer target without "
            "labels), or holds no label for these rows (blank cells, or IDs that match none "
            "of its labelled rows)"
        )
    try:
        if exposure is not None:
            if spec.exposure_metrics is None:
                raise ConfigError(f"{spec.name} takes no exposure")
            return spec.exposure_metrics(truth, np.asarray(predictions), exposure)
        if spec.metrics is not None:
            return spec.metrics(truth, predictions)
        return evaluate_known(spec.output_of(config), truth, predictions, model, targets)
    except DataError as exc:
        raise DataError(
            f"cannot evaluate the {len(truth)} scored rows ({exc}): they are the held-out "
            "rows every party holds; with this few, check that the parties write their IDs "
            "the same way, or hold out more rows"
        ) from None


_OPERATING_POINT = ("threshold", "precision", "recall")  # :func:`operating_points`' fields
_CLASS_PROBABILITY_METRICS = ("accuracy", "macro_f1", "log_loss", "macro_auc_ovr")
_METRIC_NAMES: dict[str, tuple[str, ...]] = {  # what :func:`evaluate` returns, by output
    "probability": (
        "auc",
        "ks",
        "average_precision",
        "brier",
        "ece",
        *(f"{at}_{q}" for at in ("at_recall", "at_precision") for q in _OPERATING_POINT),
    ),
    "probabilities": _CLASS_PROBABILITY_METRICS,
    "classes": ("accuracy",),
    "values": ("rmse", "mae", "r2"),
}


def held_out_metric_names(spec: VerticalAlgorithm[Any], config: Any) -> frozenset[str]:
    """Every metric name :func:`held_out_metrics` can return for ``spec`` under ``config``:
    what a deployed coordinator accepts of the label party's held-out evaluation.

    Parameters
    ----------
    spec, config
        The run's algorithm and its config.

    Returns
    -------
    frozenset of str
        The algorithm's own metric names (``spec.metric_names``) when it brings its own
        metrics, else those of its kind of prediction (and of class probabilities, which a
        model may predict whatever it declares, :func:`prediction_output`).
    """
    if spec.metrics is not None:
        return frozenset(spec.metric_names)
    return frozenset(_METRIC_NAMES[spec.output_of(config)]) | set(_CLASS_PROBABILITY_METRICS)


def held_out_reliability(
    spec: VerticalAlgorithm[Any],
    config: Any,
    truth: np.ndarray,
    predictions: np.ndarray,
    model: Any,
) -> list[dict[str, float | int | None]] | None:
    """The reliability table of a binary model's held-out predictions, as the run store
    keeps it, computed where the labels are (the scoring party); ``None`` for a model that
    predicts no single probability or brings its own metrics.

    Parameters
    ----------
    spec, config, truth, predictions, model
        As :func:`held_out_metrics` (which has checked them).

    Returns
    -------
    list of dict or None
        One record per bin of :func:`rengo.metrics.reliability_table` (10 equal-width bins).
    """
    output = prediction_output(spec.output_of(config), predictions)
    if spec.metrics is not None or output != "probability":
        return None
    return reliability_records(reliability_table(*_known_rows(truth, predictions, model)))


def modelled_classes(
    classes: Sequence[str] | None, intercept: float | np.ndarray
) -> tuple[str, ...] | None:
    """The label's class names that have a model, in code order.

    A one-vs-rest model has a class model for each code ``0 .. K-1`` up to the largest
    code among the aligned training rows, so a last class (in name order) whose every row
    was held out or has no match at a feature party has none; its name is left out.

    Parameters
    ----------
    classes
        Every class name of the label column, in code order (None: none recorded).
    intercept
        The model's intercept: one per class model (an array), or a binary model's float.

    Returns
    -------
    tuple of str or None
        ``classes`` cut to the class models' count (a binary model's: unchanged).
    """
    if classes is None or not isinstance(intercept, np.ndarray):
        return None if classes is None else tuple(classes)
    return tuple(classes[: len(np.atleast_1d(intercept))])


def run_vertical_job(
    job: VerticalJob,
    store: Any = None,
    log: Callable[[str], Any] = print,
    progress: bool | ProgressFn = False,
    *,
    run_name: str | None = None,
    entries: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, score the held-out customers, and record the run (kind "vfl") in ``store``,
    with the SHA-256 of each party's table file (``data_files``, by path) and the job's
    settings (``job_settings``, see :func:`~rengo.jobs.build.job_settings`: what a study
    tells its cells apart and compares them by).

    ``progress`` shows the run as it goes (see the estimators' ``progress``): rich bars for
    True, or a callback of :class:`~rengo.vfl.VerticalProgress` events. ``run_name``
    records the run under another name than ``job.name`` (a study's cell); ``entries`` are
    recorded in its config too (the job file, the ``--set`` overrides, the study).

    Returns
    -------
    dict
        ``run_id``, ``common_customers``, ``train_seconds``, ``scored_customers``,
        ``test_rows`` (those of them with a known label, which the metrics are computed on:
        all of them but at a transfer-learning target), the held-out metrics (e.g. ``auc``
        and ``ks``) and the label party's per-epoch ``losses`` (empty when its model keeps
        none).
    """
    spec, vfl = job.spec, job.spec.vfl
    assert vfl is not None
    config: dict[str, Any] = {"kind": "vfl", **vfl.as_dict(), **(entries or {})}
    from rengo.jobs.build import JOB_SETTINGS, job_settings  # not at import: party start-up

    config[JOB_SETTINGS] = job_settings(spec)
    if vfl.parties and DATA_FILES not in config:  # what each party's table held (a bundled
        config[DATA_FILES] = job_data_files(spec)  # dataset: rengo's own); given: as checked
    bundled = bundled_data(spec)  # a bundled table: its name and the release that ships it
    if bundled is not None:
        config[BUNDLED_DATA] = bundled
    name = run_name or spec.job.name
    with open_run(store, RUN_KIND, config, name=name, seed=spec.job.seed) as run:
        run_id = run.run_id
        start = time.perf_counter()
        parties = len(vfl.party_names)
        live = None if store is None or run_id is None else LiveEpochs(store, run_id, parties)
        # a failed run keeps the epochs it ended, scored or not: those the store refused
        # while it trained are tried once more, and any it still refuses are named
        with epochs_named_on_failure(live, log):
            with epoch_clock(job.model, vfl.label_party, progress, live) as clock:
                try:
                    job.model.fit(
                        job.train, labels=job.other_labels or None, selection=vfl.selection
                    )
                except ChangedTable as exc:
                    settings = _rows_chosen_by(vfl, exc.role)
                    if not settings or exc.rows_chosen_by:
                        raise
                    raise ChangedTable(exc.role, exc.run, exc.path, settings) from exc
            train_s = time.perf_counter() - start
            _known_scalers(job)
            if vfl.selection is not None:
                run.summary[IV_SELECTION] = keep_selected_columns(job, log)
            ids, predictions = job.model.predict_raw(job.test)
            scored = scoring_party(vfl)
            held_out = job.test.parties[scored].ids
            for what, values in (("labels", job.test_labels), ("exposures", job.test_exposure)):
                if values is not None and len(values) != len(held_out):
                    raise ValueError(f"{scored}'s held-out IDs and {what} differ in length")
            row_of = {str(i): row for row, i in enumerate(held_out)}  # one lookup for both
            rows = np.array([row_of[str(i)] for i in ids], dtype=np.intp)
            truth = np.asarray(job.test_labels)[rows]
            exposure = job.test_exposure
            exposure = None if exposure is None else np.asarray(exposure, dtype=np.float64)[rows]
            evaluated = known_label_count(truth)  # the metrics' rows (a transfer target's few)
            metrics: dict[str, float] = {}  # none for an unlabelled target: nothing to compare
            if evaluated:
                metrics = held_out_metrics(
                    vfl.spec,
                    vfl.options,
                    truth,
                    predictions,
                    job.model.models_[scored],
                    OperatingTargets(vfl.target_recall, vfl.target_precision),
                    exposure,
                )
            label_model = job.model.models_[vfl.label_party]
            result: dict[str, Any] = {
                "run_id": run_id,
                "common_customers": int(job.model.psi_.size) if job.model.psi_ else None,
                "train_seconds": train_s,
                "scored_customers": len(ids),
                TEST_ROWS: evaluated,
                **metrics,
                "losses": list(getattr(label_model, "losses", [])),
            }
            shown = ", ".join(f"{k.upper()} {v:.4f}" for k, v in metrics.items())
            trained = vfl.spec.describe(job.model.models_.get(COORDINATOR))
            evaluated_on = evaluated_rows_phrase(len(ids), evaluated)  # "": every scored row
            if evaluated:
                scored_line = (
                    f"scored {len(ids)} held-out customers"
                    f"{'; ' + evaluated_on if evaluated_on else ': '}{shown}"
                )
            else:
                scored_line = (
                    f"scored all {len(ids)} of {scored}'s customers (no {vfl.label!r} labels: not "
                    f"evaluated; rengo runs export {run_id or 'RUN'} --out DIR keeps the model "
                    "to score new rows)"
                )
            log(
                f"{trained} in {train_s:.1f}s on {result['common_customers']} common customers; "
                + scored_line
            )
            if store is not None and run_id is not None:
                log_vertical_epochs(
                    store,
                    run_id,
                    result["losses"],
                    clock.epoch_seconds(),
                    {f"test_{k}": v for k, v in metrics.items()},
                    len(vfl.party_names),
                    train_s,
                    validation_losses=recorded_validation_losses(
                        job.model.models_, vfl.label_party
                    ),
                )
                if live is not None:
                    live.rewritten()  # every epoch is in the record now, with its final values
                coefficients = getattr(job.model, "coefficients", None)
                if callable(coefficients):
                    # A simulation holds every linear party's part in one place (a deployment
                    # never does); other algorithms' parts stay with their estimator.
                    epochs = max(1, len(result["losses"]))
                    fills = {
                        name: model.fill
                        for name, model in job.model.models_.items()
                        if getattr(model, "fill", None) is not None
                    }
                    weights = coefficients()
                    intercepts = job.model.intercepts()
                    parts = vertical_parts_blob(
                        epochs,
                        vfl.label_party,
                        weights,
                        intercepts,
                        fills,
                        job.scalers,
                        job.party_categories(),
                        modelled_classes(job.classes, intercepts),
                    )
                    store.save_checkpoint(run_id, epochs, parts)
                elif isinstance(job.model, HeteroSecureBoost):
                    # each party's own document: the label party's trees, each feature party's
                    # split lookup table (a deployment keeps each at its party: --model)
                    sbt = job.model
                    guest = sbt.guest_model_
                    if guest.objective != "regression" and guest.classes is None and job.classes:
                        # the label party's own labels: numbers for a column of number text
                        guest = guest.with_classes(label_values(job.classes))
                    models = {sbt.label_party_: guest, **sbt.host_models_}
                    blob = secureboost_blob(
                        sbt.n_trees_,
                        sbt.label_party_,
                        models,
                        job.scalers,
                        training_run=run_id,
                        categories=job.party_categories(),
                    )
                    store.save_checkpoint(run_id, max(1, sbt.n_trees_), blob)
                elif vfl.algorithm == "ftl":
                    # each party's document, as `rengo vfl party --model` writes it deployed
                    documents = transfer_documents(job, training_run=run_id)
                    epochs = max(1, len(result["losses"]))
                    store.save_checkpoint(
                        run_id, epochs, transfer_blob(epochs, vfl.label_party, documents)
                    )
                elif vfl.algorithm == "splitnn":
                    # each party's networks, as `rengo vfl party --model` writes them deployed
                    documents = splitnn_documents(job, training_run=run_id)
                    epochs = max(1, len(result["losses"]))
                    store.save_checkpoint(
                        run_id, epochs, splitnn_blob(epochs, vfl.label_party, documents)
                    )
        run.summary.update(
            {k: v for k, v in metrics.items()},
            train_seconds=train_s,
            scored_customers=len(ids),
        )
        run.summary[TEST_ROWS] = evaluated
        if result["common_customers"] is not None:  # the shared rows PSI found
            run.summary["common_customers"] = result["common_customers"]
        # who took part and each party's training rows before PSI (a model card's data)
        run.summary["parties"] = vfl_names(job)
        run.summary["party_rows"] = {n: len(t.ids) for n, t in job.train.parties.items()}
        names = {n: list(f) for n, f in job.train.feature_names.items() if f}
        if names:  # what `rengo runs importance` names each party's columns by
            run.summary[FEATURE_NAMES] = names
        reliability = None
        if evaluated:
            reliability = held_out_reliability(
                vfl.spec, vfl.options, truth, predictions, job.model.models_[scored]
            )
        if reliability is not None:
            run.summary[RELIABILITY] = reliability
        # what a deployed run of the job records too (epochs run, best epoch, values
        # decrypted...), from the same coordinator reports
        scoring = job.model.predict_run_.coordinator.scoring
        run.summary.update(vfl.spec.summary(job.model.models_.get(COORDINATOR), scoring))
        return result


def keep_selected_columns(job: VerticalJob, log: Callable[[str], Any] = print) -> dict[str, Any]:
    """After a fit with ``[vfl.selection]``: the job's column names and scalings narrowed to
    the columns each party kept (what its model and the run's record name), and the
    selection's record (the run dropped the others itself, on the rows PSI shared, see
    :mod:`rengo.vfl.hetero_binning.selection_step`; scoring drops them too).

    Parameters
    ----------
    job
        A vertical job with ``[vfl.selection]``, fitted.
    log
        Told which columns were kept.

    Returns
    -------
    dict
        The run store's record: the settings, the least rows of a bin in effect, every
        column's IV and whether it was kept.
    """
    from rengo.vfl.hetero_binning.selection_step import describe_selection, kept_names

    record = job.model.selection_
    columns = job.model.kept_columns_
    assert record is not None and columns is not None
    named = job.train.feature_names
    names = {party: kept_names(own, columns[party]) for party, own in named.items() if own}
    job.train = replace(job.train, feature_names=names)
    for party, scaling in list(job.scalers.items()):
        kept = list(columns[party])
        job.scalers[party] = Standardization(mean=scaling.mean[kept], scale=scaling.scale[kept])

    log(describe_selection(record))
    return dict(record)


def transfer_documents(job: VerticalJob, training_run: str | None) -> dict[str, dict[str, Any]]:
    """Each party's transfer-learning model document of a trained job, as a deployed party
    writes it (``rengo vfl party --model FILE``): its model
    (:func:`rengo.ftl.model_file.party_document`) with how its table's columns were
    prepared (:func:`rengo.vfl.party_model_file.prepared_columns`), which a scoring-only
    run applies to new rows.

    Parameters
    ----------
    job
        A job with ``[vfl] algorithm = "ftl"`` whose model has been fitted.
    training_run
        The token each document names (the run's id), or ``None``.

    Returns
    -------
    dict
        Party name to its JSON-ready document.

    Raises
    ------
    DataError
        If a party's encoder is a module of its own (a document keeps only the encoders
        rengo builds).
    """
    from rengo.ftl.model_file import kept_document

    vfl = job.spec.vfl
    assert vfl is not None
    documents: dict[str, dict[str, Any]] = {}
    for name in vfl.party_names:
        encoding = job.categories.get(name)
        documents[name] = kept_document(
            job.model.models_[name],
            name,
            vfl.label_party,
            training_run,
            job.train.feature_names.get(name, ()),
            job.scalers.get(name),
            None if encoding is None else encoding.to_json(),
        )
    return documents


def splitnn_documents(job: VerticalJob, training_run: str | None) -> dict[str, dict[str, Any]]:
    """Each party's SplitNN model document of a trained job, as a deployed party writes it
    (``rengo vfl party --model FILE``): its networks
    (:func:`rengo.vfl.splitnn.model_file.kept_document`) with how its table's columns were
    prepared, which a scoring-only run applies to new rows.

    Parameters
    ----------
    job
        A job with ``[vfl] algorithm = "splitnn"`` whose model has been fitted.
    training_run
        The token each document names (the run's id), or ``None``.

    Returns
    -------
    dict
        Party name to its JSON-ready document.
    """
    from rengo.vfl.splitnn.model_file import kept_document

    vfl = job.spec.vfl
    assert vfl is not None
    documents: dict[str, dict[str, Any]] = {}
    for name in vfl.party_names:
        encoding = job.categories.get(name)
        documents[name] = kept_document(
            job.model.models_[name],
            name,
            vfl.label_party,
            training_run,
            job.train.feature_names.get(name, ()),
            job.scalers.get(name),
            job.classes if name == vfl.label_party else None,
            None if encoding is None else encoding.to_json(),
        )
    return documents


def _known_scalers(job: VerticalJob) -> None:
    """Add to ``job.scalers`` the column scaling of each party that read its training rows
    after PSI (known once the run has read them)."""
    for name, source in job.train.later.items():
        if isinstance(source, SharedRowsFile):
            mean, scale = source.scaling()
            if mean is not None and scale is not None:
                job.scalers[name] = Standardization(mean=mean, scale=scale)


def recorded_validation_losses(models: Mapping[str, Any], label_party: str) -> list[float]:
    """The held-out loss per epoch a simulated run's models kept: the label party's
    (SecureBoost holds its validation share there), else the coordinator's record (transfer
    learning's target reports its held-out loss to the coordinator, not to the source)."""
    for name in (label_party, COORDINATOR):
        losses = list(getattr(models.get(name), "validation_losses", []))
        if losses:
            return losses
    return []


def log_vertical_epochs(
    store: Any,
    run_id: str,
    losses: Sequence[float],
    epoch_seconds: Sequence[float],
    test_metrics: dict[str, float],
    parties: int,
    train_seconds: float,
    validation_losses: Sequence[float] = (),
) -> None:
    """Record a simulated vertical run's epochs as the run's rounds: each epoch's training
    loss, its loss on the label party's held-out share where it keeps one (SecureBoost's
    ``validation_fraction``: the loss early stopping watches) and its own duration (from an
    :class:`~rengo.vfl.progress.EpochClock`; 0 where none was timed), and the held-out
    metrics on the last epoch. A model that keeps no losses (hetero LR with
    ``compute_loss=False``) is one round per timed epoch, without a loss, or one round of
    ``train_seconds`` where no epoch was timed."""
    if not losses:
        if not epoch_seconds:
            store.log_round(run_id, 1, test_metrics, train_seconds, parties, 0)
            return
        for epoch, took in enumerate(epoch_seconds, start=1):
            last = epoch == len(epoch_seconds)
            store.log_round(run_id, epoch, test_metrics if last else {}, took, parties, 0)
        return
    seconds = [*epoch_seconds[: len(losses)], *[0.0] * (len(losses) - len(epoch_seconds))]
    for epoch, loss in enumerate(losses, start=1):
        metrics = {"train_loss": loss}
        if epoch <= len(validation_losses):
            metrics["validation_loss"] = validation_losses[epoch - 1]
        if epoch == len(losses):
            metrics.update(test_metrics)
        store.log_round(run_id, epoch, metrics, seconds[epoch - 1], parties, 0)


def vfl_names(job: VerticalJob) -> list[str]:
    """The parties of a vertical job (label party first)."""
    return [job.train.label_party, *job.train.hosts]
