"""`rengo party`'s round report prints one "trained on" line per round under Ditto and
FedRep, whose client mods fit twice per round (it printed two): the report runs outside
the mods the round config requests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rengo.cli.deploy import PartyReport
from rengo.core.messages import EvaluateResult, FitResult
from rengo.hfl import Ditto, FedRep, simulate
from rengo.hfl.client import Client


class _Probe(Client):
    def fit(self, parameters: Any, config: Any) -> FitResult:
        return FitResult([p + 0.1 for p in parameters], 10, {"loss": 0.5})

    def evaluate(self, parameters: Any, config: Any) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


@pytest.mark.parametrize(
    "strategy",
    [
        Ditto(min_fit_clients=3, fraction_evaluate=0.0),
        FedRep(min_fit_clients=3, fraction_evaluate=0.0, personal_arrays="-1"),
    ],
    ids=["ditto", "fedrep"],
)
def test_the_party_report_prints_one_trained_line_per_round(
    strategy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    simulate(
        lambda cid: _Probe(),
        3,
        strategy,
        [np.zeros(3), np.zeros(2)],
        2,
        seed=0,
        client_mods=[PartyReport("alice")],
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if "trained on" in line]
    assert len(lines) == 2 * 3, lines  # 2 rounds of 3 clients, one line each
    assert sum("round 1:" in line for line in lines) == 3
