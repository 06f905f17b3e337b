"""The dashboard page's own functions, taken from ``app.js`` for the tests that run them
under Node."""

from __future__ import annotations

from pathlib import Path

import rengo.ui

APP = Path(rengo.ui.__file__).parent / "static" / "app.js"


def function_text(name: str) -> str:
    """The text of ``function NAME(...) { ... }`` in ``app.js`` (braces balanced)."""
    source = APP.read_text(encoding="utf-8")
    start = source.index(f"function {name}(")
    depth = 0
    for at in range(source.index("{", start), len(source)):
        depth += {"{": 1, "}": -1}.get(source[at], 0)
        if depth == 0:
            return source[start : at + 1]
    raise AssertionError(f"{name} is not closed in {APP}")
