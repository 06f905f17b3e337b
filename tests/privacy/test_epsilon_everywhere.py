"""Every epsilon rengo shows goes through one rule (:func:`rengo.privacy.epsilon_text.
epsilon_shown`: 4 significant digits, rounded up, never below the bound), and only epsilons
do: ``rengo runs compare`` showed a DP epsilon's mean to 4 decimals rounded to nearest
(14.7126 for 14.712642...), a run's History repr to 4 digits rounded to nearest (2.272 for
2.27201), and the dashboard rounded up any metric or tournament participant whose name
merely ended in ``dp_epsilon``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from rengo.core.parameters import Parameters
from rengo.hfl import History
from rengo.hfl.coordinator import RoundRecord
from rengo.privacy.epsilon_text import (
    EPSILON_METRICS,
    epsilon_shown,
    is_epsilon_metric,
    metric_text,
)
from rengo.tracking import RunStore, compare_runs, comparison_table

NODE = shutil.which("node")
NEAR_MISSES = [
    "eve_dp_epsilon",
    "alice-dp_epsilon",
    "my_dp_epsilon",
    "dp_epsilon_target",
    "loss",
    "fit eve_dp_epsilon",
    "eve dp_epsilon",
]
PHASED = ["fit dp_epsilon", "evaluate dp_epsilon", "fit train_dp_epsilon"]


def test_only_the_epsilon_metrics_are_rounded_up() -> None:
    assert {"dp_epsilon", "train_dp_epsilon"} == EPSILON_METRICS
    assert all(is_epsilon_metric(name) for name in [*EPSILON_METRICS, *PHASED])
    assert not any(is_epsilon_metric(name) for name in [*NEAR_MISSES, None])
    assert metric_text("dp_epsilon", 2.27201) == "2.273"
    assert metric_text("eve_dp_epsilon", 2.27201) == "2.272"  # a score, not an epsilon


def _table_text(store: RunStore, metric: str) -> str:
    comparison = compare_runs(store, [r.run_id for r in store.list_runs()], metric)
    shown = Console(width=200, record=True, color_system=None)
    shown.print(comparison_table(comparison))
    return shown.export_text()


def test_runs_compare_shows_an_epsilons_mean_rounded_up(tmp_path: Path) -> None:
    """As the sweep of two noise multipliers by two seeds recorded them (digits, 6 rounds)."""
    spent = {0.9: 14.712642361832852, 1.3: 9.291471728971134}
    with RunStore(tmp_path / "runs.db") as store:
        for z, epsilon in spent.items():
            for seed in (0, 1):
                settings = {"job": {"seed": seed}, "privacy": {"noise_multiplier": z}}
                run_id = store.start_run("hfl", {"job_settings": settings}, seed=seed)
                store.log_round(run_id, 1, {"dp_epsilon": epsilon / 3, "acc": 0.61237}, 1, 2, 0)
                store.log_round(run_id, 2, {"dp_epsilon": epsilon, "acc": 0.71237}, 1, 2, 0)
                store.finish_run(run_id, "completed")
        text = _table_text(store, "dp_epsilon")
        accuracy = _table_text(store, "acc")
    assert "14.72 ± 0" in text and "9.292 ± 0" in text  # was 14.7126 and 9.2915
    assert "14.7126" not in text and "9.2915" not in text
    assert epsilon_shown(14.712642361832852 / 3) in text  # the best (lowest) round's, too
    assert "0.7124 ± 0.0000" in accuracy  # any other metric as before


def test_a_historys_repr_rounds_its_epsilon_up() -> None:
    metrics = {"dp_epsilon": 2.27201, "eve_dp_epsilon": 2.27201}
    parameters: Parameters = [np.zeros(2)]
    history = History(rounds=[RoundRecord(1, ["a"], {}, metrics, 0.1)], parameters=parameters)
    assert "dp_epsilon=2.273" in repr(history)  # was 2.272, below the bound
    assert "eve_dp_epsilon=2.272" in repr(history)


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's code")
def test_the_page_rounds_up_the_same_metrics_and_never_a_participants_scores() -> None:
    """The page's rule is the server's (same names in, same answers out); a chart of
    participants' scores (series labelled by participant) is no epsilon, whatever a
    participant is called, while a chart of a run's metric family (series labelled by
    metric) rounds its epsilon series up."""
    from ui.app_functions import function_text

    names = [*sorted(EPSILON_METRICS), *PHASED, *NEAR_MISSES, None]
    defined = "\n".join(
        function_text(name)
        for name in ("isEpsilonMetric", "seriesMetric", "fmtEpsilon", "fmtMetric")
    )
    checks = {
        "rule": f"{json.dumps(names)}.map((n) => isEpsilonMetric(n))",
        "scores": 'fmtMetric(2.27201, seriesMetric({}, "dp_epsilon"))',
        "family": 'fmtMetric(2.27201, seriesMetric({ seriesAreMetrics: true }, "dp_epsilon"))',
        "named": 'fmtMetric(2.27201, seriesMetric({ metric: "dp_epsilon" }, "eve"))',
    }
    calls = ", ".join(f"{key}: {call}" for key, call in checks.items())
    script = f"{defined}\nprocess.stdout.write(JSON.stringify({{{calls}}}));"
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, timeout=30, check=True
    )
    got = json.loads(done.stdout)
    assert got["rule"] == [is_epsilon_metric(name) for name in names]
    assert got["scores"] == "2.2720"  # a participant's score, as any metric
    assert got["family"] == "2.273" and got["named"] == "2.273"


def test_the_pages_epsilon_names_are_the_servers_without_node() -> None:
    """app.js's isEpsilonMetric holds its own copy of EPSILON_METRICS (the docstring said the
    page took them from the server): read from the page's source, so that a name added on
    one side only fails here too where Node.js is not installed to run the page's rule."""
    import re

    from ui.app_functions import function_text

    body = function_text("isEpsilonMetric")
    lists = re.findall(r"\[([^\[\]]*)\]\.includes\(metric\)", body)
    assert len(lists) == 1, body
    assert set(json.loads(f"[{lists[0]}]")) == EPSILON_METRICS
