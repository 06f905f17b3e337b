"""``rengo demo`` installed without an extra it needs says which, and the command that
installs it, before it trains or records anything (it used to run two of its horizontal
runs, then stop at the third for want of dp-accounting)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rengo.core.install_hint import install_hint

# Runs `rengo demo ARGS` in a Python that cannot import the modules named first, as one
# installed without their extras.
WITHOUT_MODULES = textwrap.dedent(
    """
    import sys

    MISSING = set(sys.argv[1].split(","))

    class Uninstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in MISSING:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Uninstalled())
    from rengo.cli.main import app

    sys.argv = ["rengo", "demo", *sys.argv[2:]]
    app()
    """
)


@pytest.mark.parametrize(
    ("modules", "extras"),
    [("dp_accounting", "privacy"), ("torch", "torch"), ("torch,dp_accounting", "torch,privacy")],
)
def test_the_demo_names_the_extras_it_lacks_before_it_runs_anything(
    tmp_path: Path, modules: str, extras: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULES, modules, "--rounds", "1", "--clients", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert install_hint(extras) in " ".join(done.stderr.split())
    assert list(tmp_path.iterdir()) == [], "the demo trained or recorded before refusing"
