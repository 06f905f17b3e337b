"""A run's recorded reliability table: the key it is kept under in the run summary, and
reading it back (a model card, ``rengo runs show``).

The job that evaluates a binary model records the table where the labels are (a vertical
run's label party, a horizontal run's coordinator) as the JSON rows of
:func:`rengo.metrics.reliability_records`; this module turns them back into
:class:`~rengo.metrics.ReliabilityBin` and refuses a record that is not one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:  # rengo.metrics imports numpy: listing runs must not
    from rengo.metrics import ReliabilityBin

RELIABILITY = "reliability"
"""The run summary key of a binary model's reliability table on its held-out rows."""

RELIABILITY_ROUND = "reliability_round"
"""The run summary key of the round whose model a horizontal run's reliability table is of
(the final round, or with early stopping the best round: the model the run keeps)."""

SHARED_BIN_MIN_ROWS = 5
"""The fewest rows a reliability bin a deployed vertical run's label party sends has its mean
prediction and observed rate in (a smaller bin: its row count only; a one-row bin's would be
that row's score and label)."""
RELIABILITY_BIN_FIELDS = ("lower", "upper", "rows", "mean_probability", "observed_rate")
"""The fields of each bin of a recorded reliability table
(:func:`rengo.metrics.reliability_records`)."""
TEST_ROWS = "test_rows"
"""The run summary key of the rows of a horizontal run's test split at the coordinator (what
its ``central_`` metrics and reliability table were computed on)."""


def _number(value: Any, bin_index: int, field: str, run_id: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"run {run_id}: recorded reliability bin {bin_index} has {field} = {value!r}, "
            "not a number"
        )
    return float(value)


def recorded_reliability(summary: Mapping[str, Any], run_id: str) -> list[ReliabilityBin] | None:
    """The reliability table a run recorded in its summary, or ``None`` where it recorded
    none (a multiclass or regression model, a deployed run, a run from before rengo kept
    one).

    Parameters
    ----------
    summary
        The run's summary (:attr:`rengo.tracking.RunInfo.summary`).
    run_id
        The run, named in errors.

    Returns
    -------
    list[ReliabilityBin] or None
        Its bins, lowest first.

    Raises
    ------
    ValueError
        The record is not a list of bins with numeric fields (a damaged store).
    """
    rows = summary.get(RELIABILITY)
    if rows is None:
        return None
    from rengo.metrics import ReliabilityBin

    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"run {run_id}: recorded reliability table is not a list of bins")
    table = []
    for k, row in enumerate(rows):
        values = {
            field: _number(row.get(field), k, field, run_id) for field in RELIABILITY_BIN_FIELDS
        }
        lower, upper, count = values["lower"], values["upper"], values["rows"]
        if lower is None or upper is None or count is None:
            raise ValueError(f"run {run_id}: recorded reliability bin {k} lacks its range or rows")
        table.append(
            ReliabilityBin(
                lower, upper, int(count), values["mean_probability"], values["observed_rate"]
            )
        )
    return table


def reliability_rows(table: list[ReliabilityBin]) -> list[tuple[str, str, str, str, str]]:
    """The table's rows as text, one per bin: range, rows, mean predicted probability,
    observed positive rate and their gap (``-`` for an empty bin).

    Parameters
    ----------
    table
        From :func:`recorded_reliability` or :func:`rengo.metrics.reliability_table`.

    Returns
    -------
    list of tuple
        ``(range, rows, mean predicted, observed rate, gap)`` per bin.
    """

    def shown(value: float | None, signed: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value:+.4f}" if signed else f"{value:.4f}"

    closing = {len(table) - 1: "]"}
    return [
        (
            f"[{b.lower:.2f}, {b.upper:.2f}{closing.get(k, ')')}",
            str(b.rows),
            shown(b.mean_probability),
            shown(b.observed_rate),
            shown(b.gap, signed=True),
        )
        for k, b in enumerate(table)
    ]


RELIABILITY_COLUMNS = ("predicted", "rows", "mean predicted", "observed rate", "gap")
"""The headers of a shown reliability table, in :func:`reliability_rows`'s order."""


def reliability_rich_table(table: list[ReliabilityBin]) -> Table:
    """The reliability table for ``rengo runs show``.

    Parameters
    ----------
    table
        The run's bins.

    Returns
    -------
    rich.table.Table
        One row per bin, titled with what it shows.
    """
    shown = Table(
        title="reliability (held-out rows; calibrated: gap near 0)",
        title_justify="left",
    )
    for k, header in enumerate(RELIABILITY_COLUMNS):
        shown.add_column(header, justify="left" if k == 0 else "right")
    for row in reliability_rows(table):
        shown.add_row(*row)
    return shown
