"""Deprecated: SCAFFOLD's client half is the client mod :mod:`rengo.hfl.mods.scaffold`.

``rengo.hfl.scaffold_client.CONTROL_KEY``, ``STATE_KEY`` and ``ScaffoldCorrection`` keep
working for one release with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any

from rengo.hfl.mods import scaffold as _scaffold

_MOVED = {"CONTROL_KEY", "STATE_KEY", "ScaffoldCorrection"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"rengo.hfl.scaffold_client.{name} moved to rengo.hfl.mods.scaffold.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_scaffold, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
