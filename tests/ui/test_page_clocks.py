"""The dashboard page's times do not depend on the viewer's clock or leave out their zone.

The page's own functions (from ``app.js``) run under Node with the viewer's time zone set:
a start time carries its UTC offset, as ``rengo runs show`` prints it, and how long a run
has run comes from the server (``running_s``), not from the viewer's clock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from ui.app_functions import function_text

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's code")


def _evaluate(expression: str, zone: str) -> object:
    """``expression``'s value, with the page's fmtTime and elapsed defined, in ``zone``."""
    script = "\n".join(
        [
            function_text("fmtTime"),
            function_text("elapsed"),
            f"process.stdout.write(JSON.stringify({expression}));",
        ]
    )
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", script],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": zone},
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("Asia/Kolkata", "2026-12-06 15:19:32+05:30"),
        ("America/New_York", "2026-12-06 04:49:32-05:00"),
        ("UTC", "2026-12-06 09:49:32+00:00"),
    ],
)
def test_a_start_time_on_the_page_carries_its_utc_offset(zone: str, shown: str) -> None:
    assert _evaluate('fmtTime("2026-12-06T09:49:32.000000+00:00")', zone) == shown


def test_how_long_a_running_run_has_run_is_the_servers_not_the_viewers_clock() -> None:
    # started an hour "later" than the viewer's clock reads: a viewer behind the coordinator
    run = {
        "duration_s": None,
        "running_s": 42.0,
        "started_at": "2099-01-01T00:00:00+00:00",
        "finished_at": None,
    }
    value = _evaluate(f"elapsed({json.dumps(run)})", "UTC")
    assert value == 42.0
    assert re.search(r"Date\.now\(\)", function_text("elapsed")) is None
