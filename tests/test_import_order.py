"""Every module of rengo imports when it is the first one imported: an import cycle that
works only in the order the test files happen to import (``rengo.hfl`` first) broke
``rengo vfl coordinator``, whose first import was another module of the cycle."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import rengo

    names = sorted(m.name for m in pkgutil.walk_packages(rengo.__path__, "rengo."))
    for name in names:
        for loaded in [k for k in sys.modules if k == "rengo" or k.startswith("rengo.")]:
            del sys.modules[loaded]
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if "partially initialized" in str(exc):
                print(f"{name}: {exc}")
    """
)


@pytest.mark.timeout(960)
def test_every_module_imports_first_without_a_circular_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == "", done.stdout
