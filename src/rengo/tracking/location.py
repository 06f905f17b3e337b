"""Where the run store lives: an explicit path, else ``$RENGO_RUNS``, else ``./rengo-runs``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "RENGO_RUNS"
DEFAULT_DIR = Path("rengo-runs")
DB_NAME = "runs.db"
MEMORY = ":memory:"
_DB_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3"})


def resolve_store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the SQLite file a :class:`~rengo.tracking.RunStore` should open.

    ``path`` (or ``$RENGO_RUNS`` when ``path`` is None) names either the database file or the
    folder holding ``runs.db``: an existing file, or a name ending in ``.db``/``.sqlite``/
    ``.sqlite3``, is the file itself; anything else is a folder. ``":memory:"`` passes through.
    """
    if path is None:
        env = os.environ.get(ENV_VAR, "").strip()
        chosen = Path(env).expanduser() if env else DEFAULT_DIR
    else:
        if str(path) == MEMORY:
            return Path(MEMORY)
        chosen = Path(path).expanduser()
    if chosen.is_file():
        return chosen
    if chosen.is_dir() or chosen.suffix.lower() not in _DB_SUFFIXES:
        return chosen / DB_NAME
    return chosen
