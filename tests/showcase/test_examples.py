"""The runnable stories in examples/ run end to end on small settings, through the showcase."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.slow


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_tournament_example_pays_the_skilled_participant_most() -> None:
    out = _run("tournament/run.py", "--rounds", "3", "--seed", "0")
    assert "Leaderboard after 3 rounds" in out
    board = out[out.index("Leaderboard") :]
    assert board.index("good") < board.index("noise")


def test_credit_default_example_scores_new_customers(tmp_path: Path) -> None:
    out = _run(
        "credit_default/run.py",
        "--small",
        "--epochs",
        "1",
        "--json",
        env={"RENGO_SHARED_DATA": str(tmp_path)},  # no shared data: the bundled credit sample
    )
    figures = json.loads(out[out.index("{") :])
    assert figures["dataset"].startswith("UCI credit-card default")
    assert figures["auc"] > figures["alone_auc"]


def test_transfer_example_beats_the_shop_alone(tmp_path: Path) -> None:
    out = _run(
        "transfer/run.py",
        "--small",
        "--json",
        "--plot",
        str(tmp_path / "transfer.png"),
        env={"RENGO_SHARED_DATA": str(tmp_path)},  # the bundled stand-in
    )
    figures = json.loads(out[out.index("{") :])
    assert figures["dataset"].startswith("breast cancer")
    assert figures["security"] == "homomorphic"
    assert figures["transfer"]["auc"] > max(0.9, figures["alone"]["auc"])  # measured 0.999, 0.952
    assert (tmp_path / "transfer.png").stat().st_size > 1000
