"""JSON text for configs, summaries and client metrics, with numpy values and paths made plain."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
from pathlib import PurePath
from typing import Any

from rengo.core.errors import ConfigError


def finite(value: Any) -> float | None:
    """A float for JSON, which has no NaN: NaN and infinities (and None) become None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """Turn the few non-JSON types a config commonly holds into JSON values."""
    np = sys.modules.get("numpy")  # a numpy value exists only once numpy was imported:
    if np is not None:  # commands that read runs (`rengo runs list`) need not import it
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):  # a client's metric may be bytes (core.messages.Scalar)
        return value.hex()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_json(value: Any, what: str) -> str:
    """Serialise ``value`` to JSON text; ``what`` names it in the error (e.g. ``"config"``)."""
    try:
        return json.dumps(value, default=_plain, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} cannot be stored as JSON: {exc}") from exc


def loads_json(text: str | None) -> Any:
    """Parse JSON text written by :func:`dumps_json`; ``None`` stays ``None``."""
    return None if text is None else json.loads(text)
