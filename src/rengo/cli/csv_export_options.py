"""The ``--excel``, ``--delimiter`` and ``--decimal`` options of the commands that export a
CSV (``rengo rewards export``, ``rengo runs metrics``): how the file is written for a
spreadsheet, :func:`rengo.data.csv_export.write_csv`'s ``bom``, ``delimiter`` and
``decimal``. The defaults write what scripts read (UTF-8 without a byte-order mark, ``,``
and ``.``); Excel in a locale that writes ``0,5`` (German, French) opens
``--excel --delimiter ";" --decimal ,``."""

from __future__ import annotations

from typing import Annotated

import typer

ExcelOption = Annotated[
    bool,
    typer.Option(
        "--excel",
        help="Start the file with a UTF-8 byte-order mark, without which Excel on Windows "
        "reads names in its own code page (Jürgen as JÃ¼rgen); where Excel writes 0,5 add "
        "--delimiter ';' --decimal ,. Default: no mark, as scripts read it.",
    ),
]
ExportDelimiterOption = Annotated[
    str,
    typer.Option(
        "--delimiter",
        help="Field separator of the CSV written (';' for Excel where 0,5 is a number).",
    ),
]
ExportDecimalOption = Annotated[
    str,
    typer.Option("--decimal", help="Decimal separator of the numbers written: '.' or ','."),
]
