"""Names MLflow and TensorBoard accept for a run's params and metrics.

MLflow refuses a whole batch when one key holds a character outside letters, digits and
``_-. /`` (and ``:`` off Windows), is longer than 250 characters, or reads as a path that
is not its own normal form (``a//b``, ``./a``, ``/a``, ``a/../b``). A run's config and
metrics come from users (party names such as ``clinic@north``, metric names such as
``auc (test)``), so each key is turned into such a name once, the same way for both tools and
every time, and two keys that would meet are told apart by a suffix.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_NAME_CHARS = 250
"""MLflow's longest param, metric or tag key."""

_ODD = re.compile(r"[^A-Za-z0-9_\-./]")


def mirror_name(key: str) -> str:
    """``key`` as a name MLflow and TensorBoard both accept, stable from call to call.

    Spaces and other characters MLflow refuses become ``_``; empty, ``.`` and ``..`` path
    segments become ``_`` too, so the name is its own normal path; a name longer than
    MLflow's 250 characters keeps its start and ends with a short hash of the whole key.
    """
    name = _ODD.sub("_", key)
    parts = ["_" if part in ("", ".", "..") else part for part in name.split("/")]
    name = "/".join(parts)
    if len(name) > MAX_NAME_CHARS:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
        name = f"{name[: MAX_NAME_CHARS - 11]}-{digest}"
    return name


def mirror_names(keys: Iterable[str]) -> dict[str, str]:
    """Each of ``keys`` with its :func:`mirror_name`. Where two would share one (``a b`` and
    ``a_b``), a key that is already a valid name keeps it and the others (in sorted order)
    get ``-2``, ``-3``... after it."""
    unique = set(keys)
    out: dict[str, str] = {}
    taken: set[str] = set()
    for key in sorted(unique, key=lambda k: (mirror_name(k) != k, k)):
        name = base = mirror_name(key)
        count = 1
        while name in taken:
            count += 1
            name = f"{base[: MAX_NAME_CHARS - len(str(count)) - 1]}-{count}"
        taken.add(name)
        out[key] = name
    return out
