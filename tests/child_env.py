"""The environment of a child ``python -m rengo`` that a test starts: it imports the rengo
under test, not whichever one its working folder and an inherited ``$PYTHONPATH`` find.

A relative ``$PYTHONPATH`` (``PYTHONPATH=src``, the usual way to test a worktree) resolves
against the child's working folder (often ``tmp_path``) and finds nothing there, so the
child falls back to the venv's editable install: another checkout's rengo."""

from __future__ import annotations

import os
from pathlib import Path

import rengo


def rengo_root() -> Path:
    """The folder that holds the ``rengo`` package this test process imported."""
    return Path(rengo.__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """``os.environ`` with an absolute ``$PYTHONPATH`` led by the tree under test (its other
    entries made absolute against this process's working folder), plus ``extra``."""
    inherited = [
        str(Path(entry).resolve())
        for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if entry
    ]
    path = os.pathsep.join(dict.fromkeys([str(rengo_root()), *inherited]))
    return {**os.environ, "PYTHONPATH": path, **extra}
