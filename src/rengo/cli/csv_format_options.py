"""The ``--delimiter``, ``--encoding`` and ``--decimal`` options of the ``rengo vfl`` commands
that read a party's CSV files (``align``, ``party --csv``, ``party --load-model
--score-csv``) and of the ``rengo tournament`` commands that read one (``open --csv``,
``submit --predictions``, ``score --targets``): how the files are written, as a job's
``[vfl]`` keys of the same names say it for ``--job`` (:func:`rengo.data.load_csv`'s
arguments). A German spreadsheet's export is ``--delimiter ";" --encoding cp1252
--decimal ,``."""

from __future__ import annotations

from typing import Annotated

import typer

DelimiterOption = Annotated[
    str,
    typer.Option(help="Field separator of the CSV files (';' for a spreadsheet's export)."),
]
EncodingOption = Annotated[
    str,
    typer.Option(
        help="Text encoding of the CSV files (cp1252: a Windows spreadsheet's export; a "
        "UTF-8 byte-order mark needs none)."
    ),
]
DecimalOption = Annotated[
    str, typer.Option(help="Decimal separator of the CSV files' numbers: '.' or ','.")
]
