"""How to install an optional extra, as the user's own installation needs it.

A missing extra is named with the command that installs it. ``pip install 'rengo[ui]'`` is
right for rengo installed from a package index; for rengo run from a source checkout (``make
demo`` installs it editable into the checkout's ``.venv``) that command would fetch another
rengo from the index, so there the hint names this interpreter's pip, the checkout and its
constraints file (which pins the CPU build of PyTorch).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def source_checkout() -> Path | None:
    """The source tree rengo runs from (an editable install: its folder holds
    ``pyproject.toml`` beside ``src/rengo``), or None for an installed package."""
    package = Path(__file__).resolve().parent.parent  # rengo/, above rengo/core/
    root = package.parent.parent
    if package.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def install_hint(extra: str) -> str:
    """The command that installs rengo's ``extra`` (``"ui"``, ``"torch"`` ...) into this
    installation.

    Parameters
    ----------
    extra
        The extra's name in ``pyproject.toml``, or several, comma-separated
        (``"torch,privacy"``).

    Returns
    -------
    str
        ``pip install 'rengo[EXTRA]'``, or from a source checkout
        ``<python> -m pip install -c <checkout>/constraints.txt -e '<checkout>[EXTRA]'``.
    """
    root = source_checkout()
    if root is None:
        return f"pip install 'rengo[{extra}]'"
    words = [sys.executable, "-m", "pip", "install"]
    constraints = root / "constraints.txt"
    if constraints.is_file():
        words += ["-c", str(constraints)]
    words += ["-e", f"{root}[{extra}]"]
    return shlex.join(words)
