"""Write a table as CSV for a script or a spreadsheet: the one writer behind rengo's CSV
exports (``rengo rewards export``, ``rengo runs metrics``, a tournament's round files, a
vertical party's scores, :func:`~rengo.data.save_csv`).

By default a file is UTF-8 without a byte-order mark, ``,`` between fields and ``.`` in
numbers: what scripts read (Python's ``csv`` module opened as ``utf-8`` keeps a mark as part
of the first column's name). Excel on Windows reads a file without the mark in the
computer's code page (``Jürgen`` shows as ``JÃ¼rgen``) and splits fields at the
computer's list separator (``;`` where numbers are written ``0,5``), so an export for Excel
asks for ``bom=True`` and, in such a locale, ``delimiter=";"`` and ``decimal=","``. rengo's
own readers skip the mark.
"""

from __future__ import annotations

import codecs
import csv
import io
import numbers
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.files import replacing_file


def write_csv(
    path: str | Path,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    delimiter: str = ",",
    decimal: str = ".",
    bom: bool = False,
    encoding: str = "utf-8",
) -> int:
    """Write ``header`` and ``rows`` to ``path`` as CSV, UTF-8 unless ``encoding`` says
    otherwise (its folder made if missing; a file there is replaced).

    The file is its owner's only (mode 0600: scores, payouts and rows are personal or
    business data; ``chmod`` it to share it) and appears whole or not at all: the rows go to
    a temporary 0600 file beside it, renamed over ``path`` once written
    (:func:`rengo.core.files.replacing_file`), so no reader ever sees half a file and a
    failure leaves any earlier file as it was.

    Parameters
    ----------
    path:
        The CSV file.
    header:
        The column names.
    rows:
        One sequence of cells per row; ``None`` is an empty cell, a string is written as
        it is, a non-integer number (``float``, numpy's floats, ``Decimal``) with
        ``decimal`` as its decimal separator.
    delimiter:
        The field separator (one character; ``"tab"`` or a backslash and ``t`` for a tab).
    decimal:
        ``"."`` or ``","``: the decimal separator of the numbers written.
    bom:
        Start the file with a UTF-8 byte-order mark, which Excel needs to read it as UTF-8.
    encoding:
        The text encoding (any codec Python knows; ``"cp1252"`` writes a file as an input
        read in the Windows code page was written).

    Returns
    -------
    int
        The number of rows written (the header not counted).

    Raises
    ------
    ConfigError
        For a ``delimiter`` that is not one character, a ``decimal`` other than ``"."`` or
        ``","``, the two equal, an unknown ``encoding``, or ``bom`` with an encoding other
        than UTF-8 (checked before the file is opened).
    """
    from rengo.data.csv_table import CsvFormat

    form = CsvFormat.checked(delimiter, encoding, decimal)
    utf8 = codecs.lookup(form.encoding).name == "utf-8"
    if bom and not utf8:
        raise ConfigError(f"a byte-order mark is written only in UTF-8, not {encoding!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with replacing_file(target) as raw:
        handle = io.TextIOWrapper(raw, encoding="utf-8-sig" if bom else form.encoding, newline="")
        try:
            writer = csv.writer(handle, delimiter=form.delimiter)
            writer.writerow(header)
            for row in rows:
                if form.decimal != ".":
                    row = [_with_decimal(cell, form.decimal) for cell in row]
                writer.writerow(row)
                count += 1
            handle.flush()
        finally:
            # the file stays open for replacing_file to flush and rename (or remove, after
            # a failure: the wrapper must not close it again when it is collected)
            handle.detach()
    return count


def _with_decimal(cell: Any, decimal: str) -> Any:
    """``cell`` as text with ``decimal`` for its decimal point if it is a non-integer
    number; any other cell as it is."""
    number = isinstance(cell, Decimal) or (
        isinstance(cell, numbers.Real) and not isinstance(cell, numbers.Integral)
    )
    return str(cell).replace(".", decimal) if number else cell
