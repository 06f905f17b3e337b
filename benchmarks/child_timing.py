"""One measured run in its own process, for benchmarks that compare source trees: the child
runs with ``PYTHONPATH`` set to a tree and prints one JSON line of figures as its last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any


def child_json(script: str, args: Sequence[str], src: str) -> dict[str, Any]:
    """Run ``script --child *args`` with ``src`` as ``PYTHONPATH``; its last stdout line,
    read as JSON (a RuntimeError with its stderr's tail when it fails)."""
    out = subprocess.run(
        [sys.executable, script, "--child", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": src},
        check=False,
    )
    if out.returncode != 0:
        failed = f"{script} {list(args)} failed (exit {out.returncode})"
        raise RuntimeError(f"{failed}: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
