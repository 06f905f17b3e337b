"""A deployed vertical party's training CSV read in two passes, so that it never holds the
rows no other party shares: the first (before PSI) checks every cell and keeps the IDs,
labels and what scaling needs of every row; the second (after PSI) keeps only the shared
rows' features, in the order PSI agreed.

Both passes parse every cell with the reader of :func:`~rengo.data.load_csv` (the first
one names any cell that is not a number, as a whole read does), so a bank of 3M rows x 300
columns, 10 % of them shared, holds 0.7 GB of features rather than 7.2 GB, for a second
parse of its file. Standardised columns use every training row's mean and spread, as
before, summed across the chunks in the order a whole table's sums add them
(:class:`~rengo.data.running_scaling.RunningScaling`): the features, and so the model, are
bit for bit those of a whole read.

A party's CSV of new rows to score is read the same way (:class:`ScoringRowsFile`): before
scoring's PSI every cell is checked and the IDs (and labels, to evaluate) kept; after it
only the rows every party holds are read, z-scored with the training statistics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from rengo.core.errors import DataError
from rengo.data.csv_table import CsvFormat, CsvScan, scan_csv
from rengo.data.running_scaling import RunningScaling
from rengo.vfl.common import ColumnCells, PartyTable, scaled

SLOW_READ_S = 2.0
"""Seconds the second pass may take before its end is said too (a bank's file)."""


HeldOut = Callable[[np.ndarray], np.ndarray]
"""Which of some IDs a job holds out to score (``True``), one ID at a time (a job's
:func:`~rengo.jobs.vertical.held_out`): those rows are the job's scoring table, not
training rows."""


@dataclass
class SharedRowsFile:
    """One party's training CSV, read in two passes (see the module): :meth:`first_pass`
    before PSI, :meth:`read` of the shared rows after it. It satisfies
    :class:`~rengo.vfl.common.FeaturesAfterPsi`.

    Parameters
    ----------
    path
        The training CSV.
    id_column, features, form
        Its ID column, feature columns (``None``: all but the ID and label) and format.
    standardize
        Z-score each column with every training row's mean and spread.
    score
        The party's rows to score, read whole: z-scored in place with the training
        statistics once the second pass has them.
    say
        Told a line when the second pass starts, and when it ends if it took long.
    held_out
        The rows a job holds out of training (to score them): they are neither training
        rows nor in the scaling; the first pass keeps their features
        (:meth:`held_out_features`). ``None``: every row trains.
    """

    path: Path
    id_column: str
    features: list[str] | None
    form: CsvFormat
    standardize: bool = True
    score: PartyTable | None = None
    say: Callable[[str], None] | None = None
    held_out: HeldOut | None = None
    _scaling: RunningScaling | None = None
    _cells: ColumnCells | None = None
    _ids: np.ndarray | None = None
    _names: list[str] | None = None  # the first pass's feature columns (none: not run)
    _kept: list[np.ndarray] = field(default_factory=list)
    _masks: list[np.ndarray] = field(default_factory=list)
    _mask: np.ndarray | None = None
    _mean: np.ndarray | None = None
    _scale: np.ndarray | None = None
    _stamp: tuple[int, int] | None = None

    def first_pass(
        self,
        label: str | None,
        text: str | None,
        task: Literal["classification", "regression"],
    ) -> CsvScan:
        """Read every row: check each cell, keep the IDs and labels (``label``, encoded as
        :func:`~rengo.data.load_csv` does, or ``text``: a label column kept as text) and
        sum each training column, holding one chunk of features at a time (and the
        held-out rows').

        Raises
        ------
        DataError
            As :func:`~rengo.data.load_csv` (naming the file, row and column).
        """
        start = 0
        self._stamp = _stamp(self.path)

        def each(chunk: np.ndarray, ids: list[str]) -> None:
            nonlocal start
            if self._scaling is None:
                self._scaling = RunningScaling(chunk.shape[1])
                self._cells = ColumnCells.of(chunk[:0])
            assert self._cells is not None
            train = self._training_part(chunk, ids)
            self._cells = self._cells.then(ColumnCells.of(train, start))
            if self.standardize:
                self._scaling.add_sums(train)
            start += len(train)

        scan = self._scan(each, label=label, text_column=text, task=task)
        self._ids = scan.ids
        self._names = list(scan.feature_names)
        if self.held_out is not None:
            self._mask = np.concatenate(self._masks) if self._masks else np.zeros(0, bool)
            self._masks = []
        return scan

    def held_out_mask(self) -> np.ndarray | None:
        """Which rows the first pass held out (``held_out``), or ``None``."""
        return self._mask

    def held_out_features(self) -> np.ndarray:
        """The held-out rows' features, unscaled, in file order (after :meth:`first_pass`)."""
        assert self._names is not None, "first_pass first"
        width = len(self._names)
        kept = np.concatenate(self._kept) if self._kept else np.empty((0, width))
        self._kept = []
        return kept

    @property
    def cells(self) -> ColumnCells:
        """Every training row's columns, as :func:`~rengo.vfl.common.check_columns` checks
        them (after :meth:`first_pass`)."""
        assert self._cells is not None, "first_pass first"
        return self._cells

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The features of ``rows`` (indices into the first pass's training rows) in that
        order, z-scored with every training row's statistics (``standardize``).

        Raises
        ------
        DataError
            If the file changed since the first pass began (its size, modification time
            or IDs): the scaling summed then would not fit the features read now.
        """
        assert self._ids is not None, "first_pass first"
        self._require_unchanged()
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        wanted = rows[order]
        assert self._names is not None
        out = np.empty((len(rows), len(self._names)), dtype=np.float64)
        squares = self.standardize and self._mean is None  # the spreads: on the first read
        start = at = 0  # training rows and file rows passed
        began = time.perf_counter()
        self._tell(f"reading the {len(rows):,} shared rows' columns of {self.path} ...")

        def each(chunk: np.ndarray, _: list[str]) -> None:
            nonlocal start, at
            if self._mask is not None:
                held = self._mask[at : at + len(chunk)]
                at += len(chunk)
                chunk = chunk[~held] if held.any() else chunk
            end = start + len(chunk)
            lo, hi = np.searchsorted(wanted, [start, end])
            out[order[lo:hi]] = chunk[wanted[lo:hi] - start]
            if squares:
                assert self._scaling is not None
                self._scaling.add_squares(chunk)
            start = end

        scan = self._scan(each, label=None, text_column=None, task="classification")
        self._require_unchanged()
        if scan.ids is None or not np.array_equal(scan.ids, self._ids):
            raise DataError(
                f"{self.path}: its rows changed while the run used it (IDs read before PSI "
                "differ from those read after it); keep the file unchanged during a run"
            )
        if squares:
            assert self._scaling is not None
            self._mean, self._scale = self._scaling.scaling()
            if self.score is not None:
                scaled(self.score, self._mean, self._scale, in_place=True)
        if self._mean is not None and self._scale is not None:
            out -= self._mean  # as scaled(in_place=True) z-scores a table
            out /= self._scale
        seconds = time.perf_counter() - began
        if seconds >= SLOW_READ_S:
            self._tell(f"read {len(rows):,} shared rows x {out.shape[1]} columns ({seconds:.1f} s)")
        return out

    def scaling(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The training columns' means and spreads (``None`` before :meth:`read`, or
        without ``standardize``)."""
        return self._mean, self._scale

    def _training_part(self, chunk: np.ndarray, ids: list[str]) -> np.ndarray:
        """The chunk's training rows; its held-out rows' features are kept. An ID the
        held-out rule refuses counts as a training row here: the caller applies the rule
        to every ID once the pass is done, which names it as a whole table's check does."""
        if self.held_out is None:
            return chunk
        try:
            held = np.asarray(self.held_out(np.array(ids, dtype=str)), dtype=bool)
        except DataError:
            held = np.zeros(len(chunk), dtype=bool)
        self._masks.append(held)
        if not held.any():
            return chunk
        self._kept.append(chunk[held])
        train: np.ndarray = chunk[~held]
        return train

    def _scan(
        self,
        each: Callable[[np.ndarray, list[str]], None],
        *,
        label: str | None,
        text_column: str | None,
        task: Literal["classification", "regression"],
    ) -> CsvScan:
        return scan_csv(
            self.path,
            each,
            label=label,
            id_column=self.id_column,
            # the second pass reads the first's columns (none, for a party of IDs and labels)
            features=self.features if self._names is None else self._names,
            text_column=text_column,
            delimiter=self.form.delimiter,
            encoding=self.form.encoding,
            decimal=self.form.decimal,
            missing_values=("",),
            task=task,
        )

    def _require_unchanged(self) -> None:
        """Refuse a file written since the first pass began: its cells may differ from
        those the first pass checked and summed, even where its IDs do not."""
        if _stamp(self.path) != self._stamp:
            raise DataError(
                f"{self.path}: it changed while the run used it (its size or modification "
                "time is not what it was when it was read before PSI); keep the file "
                "unchanged during a run"
            )

    def _tell(self, line: str) -> None:
        if self.say is not None:
            self.say(line)


Scaling = Callable[[], tuple[np.ndarray | None, np.ndarray | None]]
"""The training columns' means and spreads once they are known (``None``: unscaled)."""


@dataclass
class ScoringRowsFile:
    """A party's CSV of new rows to score, read in two passes: ``source`` (unscaled, its
    first pass run) reads the rows scoring's PSI shares, which are z-scored with
    ``scaling()`` as a whole table's rows are (:func:`~rengo.vfl.common.scaled`), so the
    scores are bit for bit those of a whole read. It satisfies
    :class:`~rengo.vfl.common.FeaturesAfterPsi`.

    Parameters
    ----------
    source
        The scoring CSV, its :meth:`SharedRowsFile.first_pass` done, ``standardize``
        False.
    scaling
        The training means and spreads, asked for when the rows are read (a party that
        read its own training rows after PSI knows them only then).
    """

    source: SharedRowsFile
    scaling: Scaling

    @property
    def cells(self) -> ColumnCells:
        """Every row's columns, as :func:`~rengo.vfl.common.check_columns` checks them."""
        return self.source.cells

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The z-scored features of ``rows`` (indices into the file's rows), in that order.

        Raises
        ------
        DataError
            If the file changed since its first pass began.
        """
        out = self.source.read(rows)
        mean, scale = self.scaling()
        if mean is not None and scale is not None:
            out -= mean  # as scaled() z-scores a whole table
            out /= scale
        return out


def _stamp(path: Path) -> tuple[int, int]:
    """``path``'s size and modification time (ns): a file written since has others."""
    status = path.stat()
    return status.st_size, status.st_mtime_ns
