"""The dashboard shows an epsilon rounded up, as ``rengo runs show`` does: a privacy bound
read off the page must not be below what the accountant certified (the page showed the
stored 8.38541935 as 8.3854 beside the run's 'epsilon 8.386'; 1.11 as 1.1101)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from ui.app_functions import function_text

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's code")


def _fmt_metrics(values: list[float], key: str | None) -> list[str]:
    """The page's text for each of ``values`` of the metric ``key``."""
    names = ("isEpsilonMetric", "fmtEpsilon", "fmtMetric")
    defined = "\n".join(function_text(name) for name in names)
    call = f"{json.dumps(values)}.map((v) => fmtMetric(v, {json.dumps(key)}))"
    script = f"{defined}\nprocess.stdout.write(JSON.stringify({call}));"
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, timeout=30, check=True
    )
    return [str(text) for text in json.loads(done.stdout)]


def _fmt_metric(value: float, key: str | None) -> str:
    (text,) = _fmt_metrics([value], key)
    return text


def test_an_epsilon_on_the_page_reads_as_rengo_runs_show_prints_it() -> None:
    """4 significant digits rounded up, as :func:`rengo.privacy.epsilon_text.epsilon_shown`:
    the same text for the same value on the page and in the terminal, never below it."""
    from rengo.privacy.epsilon_text import epsilon_shown

    values = [8.38541935, 2.27201, 1.11, 22.0, 0.000123456, 9.99951, 4.3, 12345.64, 4.1e-05]
    values += [float(v) for v in 10.0 ** np.random.default_rng(0).uniform(-6, 6, 300)]
    shown = _fmt_metrics(values, "dp_epsilon")
    assert shown == [epsilon_shown(value) for value in values]
    assert all(float(text) >= value for text, value in zip(shown, values, strict=True))
    assert _fmt_metric(2.27201, "train_dp_epsilon") == "2.273"
    assert _fmt_metric(12345.64, "dp_epsilon") == "1.2350e+04"  # above the bound, not 12,345.6
    assert _fmt_metric(8.38541935, "accuracy") == "8.3854"  # other metrics as before
    assert _fmt_metric(8.38541935, None) == "8.3854"
