"""Align the rows of several parties' CSV files by private set intersection (``rengo vfl align``).

Each party's file is read by :func:`rengo.data.csv_table.read_csv_rows`, the reader behind
``load_csv`` and ``rengo run`` (cells stripped of surrounding whitespace, blank lines skipped;
IDs are otherwise the exact strings in the file: no type guessing, so ``007`` and ``7`` are
different IDs), the parties run ECDH-PSI on the ID
column, and each party's rows of the intersection are written, in the one order all parties
agreed on, to ``out_dir/<party>.csv`` with the original header. Row ``k`` of every output file
then describes the same entity. The files hold the shared IDs and their rows: each is its
owner's only (0600) from the moment it exists, and a folder this makes is too (0700).

A bank's few million rows take minutes to read, match and write; ``progress`` is told as
each stage starts and ends (:class:`AlignStep`), so that a command can show it.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.roles import validate_party_name
from rengo.data.csv_table import CsvFormat, CsvRows, read_csv_rows, stream_csv_rows
from rengo.vfl.psi.ids import normalise_ids
from rengo.vfl.psi.protocol import private_set_intersection, require_nonempty


@dataclass(frozen=True)
class AlignStep:
    """A stage of :func:`align_csv` as it starts (``seconds`` None) or ends.

    Attributes
    ----------
    stage
        ``"ids"`` (reading a party's ID column), ``"psi"`` (matching every party's IDs) or
        ``"rows"`` (writing a party's shared rows).
    party
        The party whose file it reads or writes (``None`` for PSI).
    count
        Once it ended: the IDs read, the IDs every party shares, or the rows written.
    seconds
        Once it ended: how long it took.
    """

    stage: Literal["ids", "psi", "rows"]
    party: str | None = None
    count: int | None = None
    seconds: float | None = None

    @property
    def finished(self) -> bool:
        """Whether the stage has ended."""
        return self.seconds is not None


AlignProgress = Callable[[AlignStep], None]
"""What :func:`align_csv` tells of its stages to (a command's display)."""


def read_id_table(
    path: Path, id_column: str, delimiter: str = ",", encoding: str = "utf-8"
) -> tuple[list[str], list[list[str]], int]:
    """Read a CSV file: its header, its data rows, and the index of ``id_column``.

    The file is read as ``load_csv`` reads it (:func:`~rengo.data.csv_table.read_csv_rows`:
    cells stripped, blank lines skipped), so the IDs matched here are the IDs a job matches.

    Raises :class:`DataError` for a missing, empty or malformed file, text not in
    ``encoding``, a bad header, a missing ID column, and rows whose field count differs from
    the header's (naming the line).
    """
    table = read_csv_rows(path, delimiter, encoding=encoding)
    header, rows = table.header, table.rows
    if id_column not in header:  # the reader refuses a column named twice
        raise table.missing_column(id_column, "ID")
    return header, rows, header.index(id_column)


def align_csv(
    paths: Mapping[str, Path | str],
    id_column: str,
    leader: str,
    out_dir: Path | str,
    *,
    delimiter: str = ",",
    seed: int | None = None,
    allow_empty: bool = False,
    encoding: str = "utf-8",
    progress: AlignProgress | None = None,
) -> dict[str, Path]:
    """Run PSI on the ``id_column`` of each party's CSV and write the aligned rows.

    Returns each party's output path (``out_dir/<party>.csv``), written with the inputs'
    ``delimiter`` and ``encoding`` (so the options that read an input read its output). An
    empty intersection raises :class:`DataError` unless ``allow_empty`` (then the outputs
    hold only the header). The files replace earlier ones only once all are written, so a
    stop while writing leaves the earlier outputs as they were. ``progress`` is told as each
    stage starts and ends (:class:`AlignStep`).
    """
    tell = progress or _silent
    for party in paths:
        validate_party_name(party)
    out = Path(out_dir)
    inputs = {party: Path(path).resolve() for party, path in paths.items()}
    targets = {party: out / f"{party}.csv" for party in paths}
    clashes = sorted(str(t) for t in targets.values() if t.resolve() in inputs.values())
    if clashes:
        raise ConfigError(f"output would overwrite an input file: {clashes}; pick another out_dir")

    form = CsvFormat.checked(delimiter, encoding)
    headers: dict[str, list[str]] = {}
    ids: dict[str, list[str]] = {}
    for party, path in inputs.items():
        started = _started(tell, "ids", party)
        headers[party], ids[party] = _read_ids(path, id_column, form)
        tell(AlignStep("ids", party, len(ids[party]), time.perf_counter() - started))
        try:
            normalise_ids(ids[party], party)
        except DataError as exc:
            raise DataError(
                f"{inputs[party]}: column {id_column!r}: {exc} (rows count data lines from 0)"
            ) from None
    sizes = {party: len(party_ids) for party, party_ids in ids.items()}
    started = _started(tell, "psi", None)
    result = private_set_intersection(ids, leader, seed=seed)
    tell(AlignStep("psi", None, result.size, time.perf_counter() - started))
    del ids
    if not allow_empty:
        require_nonempty(result)

    out.mkdir(parents=True, exist_ok=True, mode=0o700)  # a new folder: its owner's only
    partial = {party: out / f".{party}.csv.partial" for party in paths}
    try:
        for party, path in inputs.items():
            started = _started(tell, "rows", party)
            lines = _shared_lines(path, result.rows(party), sizes[party], form)
            _write_lines(partial[party], headers[party], lines, form)
            tell(AlignStep("rows", party, len(lines), time.perf_counter() - started))
            del lines
        # only once every file is whole: a stop (Ctrl-C, SIGTERM) while writing left some
        # parties' files of this run beside others' of an earlier one, in another row order
        for party, written in partial.items():
            os.replace(written, targets[party])
    finally:
        for written in partial.values():
            written.unlink(missing_ok=True)
    return targets


def _silent(step: AlignStep) -> None:
    """Tell no one (no ``progress`` given)."""


def _started(tell: AlignProgress, stage: Literal["ids", "psi", "rows"], party: str | None) -> float:
    """Tell that ``stage`` starts; return the time it started."""
    tell(AlignStep(stage, party))
    return time.perf_counter()


def _read_ids(path: Path, id_column: str, form: CsvFormat) -> tuple[list[str], list[str]]:
    """The header of ``path`` and its ``id_column``'s cells, in one pass that keeps no other
    cell (a whole malformed file is named before a missing ID column, as
    :func:`read_id_table` names it)."""
    rows = stream_csv_rows(path, form.delimiter, form.encoding)
    header = next(rows)
    if id_column not in header:  # the reader refuses a column named twice
        for _ in rows:
            pass
        raise CsvRows(path, header, [], []).missing_column(id_column, "ID")
    column = header.index(id_column)
    return header, [cells[column] for cells in rows]


def _shared_lines(path: Path, order: np.ndarray, size: int, form: CsvFormat) -> list[str]:
    """The rows of ``path`` at data-row indices ``order``, in that order, each as the CSV line
    :func:`~rengo.data.csv_export.write_csv` writes for it: one pass over the file that
    keeps only the shared rows' text (``size``: its data rows, as read for the IDs).

    Raises
    ------
    DataError
        If the file no longer has ``size`` data rows (it changed while being aligned).
    """
    at = np.full(size, -1, dtype=np.int64)
    at[order] = np.arange(len(order))
    lines: list[str] = [""] * len(order)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=form.delimiter)
    rows = stream_csv_rows(path, form.delimiter, form.encoding)
    next(rows)  # the header, kept from the first pass
    count = 0
    for i, cells in enumerate(rows):
        if i < size and at[i] >= 0:
            writer.writerow(cells)
            lines[at[i]] = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        count = i + 1
    if count != size:
        raise DataError(
            f"{path}: had {size} data rows when its IDs were read and {count} now; the file "
            "changed while it was being aligned: align it again"
        )
    return lines


def _write_lines(path: Path, header: list[str], lines: list[str], form: CsvFormat) -> None:
    """Write ``header`` and the CSV ``lines`` (each ending in its line break) to ``path``,
    as :func:`~rengo.data.csv_export.write_csv` writes a table: a new file, its owner's only
    from the moment it exists (0600: a party's shared IDs and their rows)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)  # a stopped run's partial file: never reopened with its mode
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(handle, "w", newline="", encoding=form.encoding) as out:
        csv.writer(out, delimiter=form.delimiter).writerow(header)
        out.writelines(lines)
