"""A job document (sections of plain values) written as the text of a TOML job file.

Only what a job file holds is written: ``[section]`` tables of strings, booleans, integers,
floats, lists of them and inline tables. Python's standard library reads TOML but does not
write it, and a job file needs no more than this.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["job_file_text", "toml_value"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def job_file_text(document: Mapping[str, Mapping[str, Any]], comments: Sequence[str] = ()) -> str:
    """The TOML text of ``document``: ``comments`` first (each line as ``# line``), then one
    ``[section]`` per entry, its keys in the document's order.

    Parameters
    ----------
    document
        ``{section: {key: value}}``; values are str, bool, int, float, lists of values or
        mappings (written as inline tables).
    comments
        Lines written at the top as TOML comments.

    Returns
    -------
    str
        The file's text, ending with a newline.

    Raises
    ------
    TypeError
        For a value TOML cannot hold (None, an object), naming its key.
    """
    lines = [f"# {line}".rstrip() for line in comments]
    for section, table in document.items():
        if lines:
            lines.append("")
        lines.append(f"[{_key(section)}]")
        lines += [
            f"{_key(key)} = {toml_value(value, f'{section}.{key}')}" for key, value in table.items()
        ]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    """A bare key where TOML allows one, else a quoted one."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def toml_value(value: Any, where: str) -> str:
    """One value as TOML writes it (``where`` names it in an error): what a job file or a
    ``--set KEY=VALUE`` holds, read back as the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # "0.1", "1e-05": both TOML floats, read back exactly
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{_key(str(k))} = {toml_value(v, f'{where}.{k}')}" for k, v in value.items()
        )
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    raise TypeError(f"{where} = {value!r}: a TOML job file cannot hold a {type(value).__name__}")
