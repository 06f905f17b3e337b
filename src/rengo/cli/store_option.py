"""The ``--store`` option every command shares, the run id argument, and opening a store
that must exist.

The store is ``--store PATH`` when given, else ``$RENGO_STORE`` (one store for every folder),
else ``./rengo-runs/runs.db`` (see :func:`rengo.tracking.resolve_store_path`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rengo.core.errors import ConfigError

if TYPE_CHECKING:
    from rengo.tracking import RunStore

STORE_HELP = "Run store (SQLite file or folder). Default: $RENGO_STORE, else ./rengo-runs/runs.db."

StoreOption = Annotated[Path | None, typer.Option("--store", help=STORE_HELP)]

RunIdArgument = Annotated[
    str, typer.Argument(help="Run id, a unique prefix of it, or latest (the run started last).")
]
"""The one run a command reads, as every command names it."""


def open_existing_store(store: Path | None, *, read_only: bool = False) -> RunStore:
    """The run store at ``store`` (or the default), which must already exist.

    Parameters
    ----------
    store
        ``--store`` as given (None: ``$RENGO_STORE``, else the default).
    read_only
        Open it only to read: a store of an earlier schema is read as it is, not migrated,
        so that looking at it (``rengo runs list``) leaves it usable by the release that
        still writes it (a coordinator not upgraded yet).

    Raises
    ------
    ConfigError
        If there is no store there, saying how to make one.
    """
    from rengo.tracking import RunStore, resolve_store_path

    path = resolve_store_path(store)
    if not path.exists():
        raise ConfigError(f"no run store at {path}; run `rengo demo` or `rengo run JOB.toml` first")
    return RunStore(path, read_only=read_only)
