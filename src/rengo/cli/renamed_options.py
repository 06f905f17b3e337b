"""Command-line options whose spelling changed: the old spelling is still accepted for a
while, hidden from ``--help``, and prints a deprecation warning naming the new one."""

from __future__ import annotations

from typing import TypeVar

from rich.console import Console

from rengo.core.deprecation import REMOVED_IN
from rengo.core.errors import ConfigError

T = TypeVar("T")


def renamed_option_value(old: str, new: str, old_value: T | None, new_value: T | None) -> T | None:
    """The value of an option given under its new spelling or, with a deprecation warning on
    stderr, its old one.

    Parameters
    ----------
    old
        The deprecated spelling (``--output``).
    new
        The spelling to use (``--out``).
    old_value, new_value
        What the command line gave each (None: not given).

    Returns
    -------
    object or None
        The value given, under either spelling.

    Raises
    ------
    ConfigError
        Both spellings were given.
    """
    if old_value is None:
        return new_value
    if new_value is not None:
        raise ConfigError(f"{old} and {new} are the same option: give {new} alone")
    Console(stderr=True).print(
        f"[yellow]warning:[/] {old} is deprecated and will be removed in rengo {REMOVED_IN}: "
        f"use {new}",
        highlight=False,
    )
    return old_value
