"""``examples/dashboard/run.py`` on an install without the ``ui`` extra (``make demo``'s):
one line naming what to install, before any recording, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rengo.core.install_hint import install_hint

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dashboard" / "run.py"

WITHOUT_FASTAPI = """
import runpy, sys
sys.modules["fastapi"] = None  # import fastapi now raises ImportError, as when not installed
sys.argv = ["run.py", "--out", sys.argv[2]]
runpy.run_path({example!r}, run_name="__main__")
"""


def test_the_dashboard_example_without_the_ui_extra_says_what_to_install_in_one_line(
    tmp_path: Path,
) -> None:
    out = tmp_path / "demo"
    script = WITHOUT_FASTAPI.format(example=str(EXAMPLE))
    done = subprocess.run(
        [sys.executable, "-c", script, "run.py", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: the dashboard needs FastAPI and uvicorn (fastapi is missing): " + install_hint("ui")
    ]
    assert not (out / "runs.db").exists()  # refused before recording anything
