"""Where the run store lives: an explicit path (``--store``), else ``$RENGO_STORE``, else
``./rengo-runs``.

Point ``$RENGO_STORE`` at one folder (``export RENGO_STORE=~/rengo-runs``) and every
command, from any folder, records into and reads from the same store. ``$RENGO_RUNS`` (its
name before rengo 0.2) still works, with a deprecation warning, until rengo 0.3.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

ENV_VAR = "RENGO_STORE"
LEGACY_ENV_VAR = "RENGO_RUNS"
"""Deprecated name of :data:`ENV_VAR`; read when ``$RENGO_STORE`` is unset (until 0.3)."""
DEFAULT_DIR = Path("rengo-runs")
DB_NAME = "runs.db"
MEMORY = ":memory:"
_DB_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3"})


def _from_environment() -> str:
    chosen = os.environ.get(ENV_VAR, "").strip()
    if chosen:
        return chosen
    legacy = os.environ.get(LEGACY_ENV_VAR, "").strip()
    if legacy:
        warnings.warn(
            f"${LEGACY_ENV_VAR} is deprecated and will be ignored from rengo 0.3; "
            f"set ${ENV_VAR} instead",
            DeprecationWarning,
            stacklevel=3,
        )
    return legacy


def resolve_store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the SQLite file a :class:`~rengo.tracking.RunStore` should open.

    Parameters
    ----------
    path
        The database file or the folder holding ``runs.db``: an existing file, or a name
        ending in ``.db``/``.sqlite``/``.sqlite3``, is the file itself; anything else is a
        folder. ``":memory:"`` passes through. None: ``$RENGO_STORE`` (or the deprecated
        ``$RENGO_RUNS``), else ``./rengo-runs``.

    Returns
    -------
    pathlib.Path
        The database file (it may not exist yet).
    """
    if path is None:
        env = _from_environment()
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
