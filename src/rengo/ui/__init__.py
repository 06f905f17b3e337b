"""rengo.ui: a live web dashboard over the run store (``rengo ui``, ``rengo coordinator --ui``).

Runs and their curves, clients and failures, who is online, contributions and payouts, a
tournament's leaderboard, runs side by side - read-only, updated as the store changes.
Needs the ``ui`` extra (``pip install 'rengo[ui]'``: FastAPI and uvicorn); the charts use
uPlot, shipped inside the package (no CDN).
"""

import importlib
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.install_hint import install_hint
from rengo.ui.access import (
    TOKEN_ENV,
    Listen,
    TlsFiles,
    check_exposure,
    is_loopback,
    new_token,
    parse_listen,
)

_LAZY = {
    "DashboardServer": "rengo.ui.server",
    "create_app": "rengo.ui.app",
}


def require_ui() -> None:
    """Raise a :class:`ConfigError` naming the install command if FastAPI or uvicorn is
    missing (the ``ui`` extra is optional)."""
    try:
        importlib.import_module("fastapi")
        importlib.import_module("uvicorn")
    except ImportError as exc:
        raise ConfigError(
            f"the dashboard needs FastAPI and uvicorn ({exc.name} is missing): {install_hint('ui')}"
        ) from exc


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        require_ui()
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TOKEN_ENV",
    "DashboardServer",
    "Listen",
    "TlsFiles",
    "check_exposure",
    "create_app",
    "is_loopback",
    "new_token",
    "parse_listen",
    "require_ui",
]
