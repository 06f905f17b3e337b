"""A run's record as files for a spreadsheet or a script: its rounds as CSV (one row per
run and round, every metric a column) or the whole run as JSON (header, config, summary,
rounds, events).

NaN and infinite metrics are empty cells in the CSV and ``null`` in the JSON (which has no
NaN), as the dashboard's API shows them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.files import write_atomically
from rengo.tracking.contrib_records import refuse_store_file
from rengo.tracking.json_text import dumps_json, finite
from rengo.tracking.store import RunStore

ROUND_COLUMNS = ("run_id", "run_name", "round", "duration_s", "num_clients", "num_failures")
"""The CSV's first columns; each metric any of the runs logged follows, sorted by name."""


def rounds_rows(store: RunStore, run_ids: Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The runs' rounds as CSV rows: the header and one dict per run and round, read at
    one moment of the store (:meth:`~rengo.tracking.RunStore.snapshot`), so a run writing
    meanwhile never shows a round in one run's rows and not in another's.

    Parameters
    ----------
    store
        The run store.
    run_ids
        Run ids or unique prefixes; their rounds follow in this order.

    Returns
    -------
    tuple of list of str and list of dict
        The column names and the rows (a metric a run did not log in a round is absent).

    Raises
    ------
    UnknownRunError, AmbiguousRunError
        If an id names no run or several.
    """
    keys: set[str] = set()
    rows: list[dict[str, Any]] = []
    with store.snapshot():  # one moment of the store, whatever a running run writes
        runs = [store.get_run(run_id) for run_id in run_ids]
        for run in runs:
            for record in store.rounds(run.run_id):
                keys.update(record.metrics)
                rows.append(
                    {
                        "run_id": run.run_id,
                        "run_name": run.name or "",
                        "round": record.round,
                        "duration_s": record.duration_s,
                        "num_clients": record.num_clients,
                        "num_failures": record.num_failures,
                        **{k: finite(v) for k, v in record.metrics.items()},
                    }
                )
    taken = [key for key in sorted(keys) if key in ROUND_COLUMNS]
    if taken:
        raise ConfigError(f"metric names {taken} clash with the CSV's own columns")
    return [*ROUND_COLUMNS, *sorted(keys)], rows


def run_record(store: RunStore, run_id: str) -> dict[str, Any]:
    """One run as a JSON-ready dict: header, config, summary, rounds and events, read at
    one moment of the store (a round written meanwhile is in all of them or none).

    Parameters
    ----------
    store
        The run store.
    run_id
        Run id or a unique prefix of it.

    Returns
    -------
    dict
        ``run`` (id, kind, name, status as read, times, seed, host, version), ``config``,
        ``summary``, ``rounds`` (each with its metrics) and ``events``.
    """
    with store.snapshot():  # header, rounds and events of one moment
        run = store.get_run(run_id)
        return {
            "run": run.identity(),
            "config": run.config,
            "summary": run.summary,
            "rounds": [
                {
                    "round": r.round,
                    "duration_s": r.duration_s,
                    "num_clients": r.num_clients,
                    "num_failures": r.num_failures,
                    "metrics": {k: finite(v) for k, v in r.metrics.items()},
                }
                for r in store.rounds(run.run_id)
            ],
            "events": [
                {
                    "time": e.created_at.isoformat(),
                    "level": e.level,
                    "round": e.round,
                    "message": e.message,
                }
                for e in store.events(run.run_id)
            ],
        }


def write_rounds_csv(
    store: RunStore,
    run_ids: Sequence[str],
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
    decimal: str = ".",
    bom: bool = False,
) -> int:
    """Write the runs' rounds to a UTF-8 CSV with a header row (see :func:`rounds_rows`),
    by :func:`rengo.data.csv_export.write_csv`.

    Parameters
    ----------
    store
        The run store.
    run_ids
        Run ids or unique prefixes, in the order their rows are written.
    path
        The CSV file (replaced if it exists: the command line asks for ``--overwrite``).
    delimiter, decimal, bom
        How the file is written for a spreadsheet (``";"``, ``","``, ``True`` for Excel in
        a locale with decimal commas); the defaults are what scripts read.

    Returns
    -------
    int
        The number of rows written (the header not counted).

    Raises
    ------
    ConfigError
        If ``path`` is the run store's own file, or for a ``delimiter`` or ``decimal``
        :func:`~rengo.data.csv_export.write_csv` refuses.
    """
    from rengo.data.csv_export import write_csv

    target = Path(path)
    refuse_store_file(store, target)
    columns, rows = rounds_rows(store, run_ids)
    cells = ([row.get(column) for column in columns] for row in rows)
    return write_csv(target, columns, cells, delimiter=delimiter, decimal=decimal, bom=bom)


def write_runs_json(store: RunStore, run_ids: Sequence[str], path: str | os.PathLike[str]) -> int:
    """Write the runs as a JSON list of :func:`run_record` dicts, all read at one moment
    of the store, to a file readable by its owner only (0600), whole or not at all.

    Parameters
    ----------
    store
        The run store.
    run_ids
        Run ids or unique prefixes, in the order they are written.
    path
        The JSON file (replaced if it exists).

    Returns
    -------
    int
        The number of rounds written, over all the runs.

    Raises
    ------
    ConfigError
        If ``path`` is the run store's own file.
    """
    target = Path(path)
    refuse_store_file(store, target)
    with store.snapshot():  # every run at one moment of the store
        records = [run_record(store, run_id) for run_id in run_ids]
    dumps_json(records, "the runs")  # a ConfigError naming what JSON cannot hold
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, (json.dumps(records, indent=2) + "\n").encode("utf-8"))
    return sum(len(r["rounds"]) for r in records)
