"""``--set section.key=value``: change a job file's settings from the command line.

``rengo run JOB.toml --set train.lr=0.01 --set job.rounds=5`` runs the job as if the file
said so: each override replaces (or adds) one key of the parsed TOML before the job is
validated, so an override is checked exactly like the file (unknown keys named with the
closest valid one, wrong types, impossible values). The value is read as a TOML value
(``5``, ``0.01``, ``true``, ``[64, 64]``, ``"text"``); anything that is not one is taken as
text, so ``--set strategy.name=fedadam`` needs no quotes.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rengo.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=0.01"`` -> ``(["train", "lr"], 0.01)``.

    Raises
    ------
    ConfigError
        Without ``=`` or a ``section.key`` path.
    """
    path, sep, value = text.partition("=")
    keys = [k.strip() for k in path.strip().split(".")]
    if not sep or len(keys) < 2 or not all(keys):
        raise ConfigError(f"--set {text!r}: expected SECTION.KEY=VALUE, e.g. --set train.lr=0.01")
    try:
        parsed = tomllib.loads(f"value = {value.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return keys, parsed


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of the parsed TOML ``raw`` with every ``SECTION.KEY=VALUE`` override applied.

    Parameters
    ----------
    raw
        The job file as parsed (nested tables).
    overrides
        ``"section.key=value"`` strings; later ones win.

    Returns
    -------
    dict
        The overridden document (``raw`` is not changed).

    Raises
    ------
    ConfigError
        For a malformed override, or one whose path runs through a value that is not a
        table.
    """
    document: dict[str, Any] = copy.deepcopy(dict(raw))
    for text in overrides:
        keys, value = parse_override(text)
        table = document
        for depth, key in enumerate(keys[:-1]):
            child = table.setdefault(key, {})
            if not isinstance(child, dict):
                where = ".".join(keys[: depth + 1])
                raise ConfigError(f"--set {text!r}: {where} is a value, not a table")
            table = child
        table[keys[-1]] = value
    return document


def describe_overrides(overrides: Sequence[str]) -> str:
    """`` (with --set a.b=1, --set c.d=2)`` for error messages; empty without overrides."""
    if not overrides:
        return ""
    return " (with " + ", ".join(f"--set {o}" for o in overrides) + ")"
