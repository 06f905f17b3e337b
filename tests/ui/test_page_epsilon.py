"""The dashboard shows an epsilon rounded up, as ``rengo runs show`` does: a privacy bound
read off the page must not be below what the accountant certified (the page showed the
stored 8.38541935 as 8.3854 beside the run's 'epsilon 8.386')."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import rengo.ui

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's code")
APP = Path(rengo.ui.__file__).parent / "static" / "app.js"


def _fmt_metric(value: float, key: str | None) -> str:
    source = APP.read_text(encoding="utf-8")
    start = source.index("function fmtMetric(")
    depth, end = 0, -1
    for at in range(source.index("{", start), len(source)):
        depth += {"{": 1, "}": -1}.get(source[at], 0)
        if depth == 0:
            end = at + 1
            break
    call = f"fmtMetric({json.dumps(value)}, {json.dumps(key)})"
    script = f"{source[start:end]}\nprocess.stdout.write(JSON.stringify({call}));"
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, timeout=30, check=True
    )
    return str(json.loads(done.stdout))


def test_an_epsilon_on_the_page_is_rounded_up_other_metrics_to_nearest() -> None:
    assert _fmt_metric(8.38541935, "dp_epsilon") == "8.3855"
    assert _fmt_metric(2.27201, "train_dp_epsilon") == "2.2721"
    assert _fmt_metric(8.38541935, "accuracy") == "8.3854"
    assert _fmt_metric(8.38541935, None) == "8.3854"
