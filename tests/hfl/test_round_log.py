"""A simulation says what each round did at INFO level (``rengo -v``, or a program's own
``logging.basicConfig(level=logging.INFO)``), as Flower logs its rounds and as a deployed
coordinator prints them: it logged nothing, so a long Python run gave no sign of life."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, FedAvg, simulate


class _Shifting(Client):
    """Moves every weight by 0.1; client "3" raises."""

    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        if self.cid == "3":
            raise ValueError("no data")
        return FitResult([p + 0.1 for p in parameters], 10)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.5, 10)


def test_each_simulated_round_is_one_info_line_naming_who_reported_and_who_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="rengo.hfl"):
        simulate(_Shifting, 4, FedAvg(min_fit_clients=2), [np.zeros(3)], 2, seed=0)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    rounds = [line for line in lines if line.startswith("round ")]
    assert len(rounds) == 2, lines
    assert rounds[0].startswith("round 1/2: 3 of 4 clients reported in ")
    assert rounds[1].startswith("round 2/2: 3 of 4 clients reported in ")
    assert rounds[0].endswith("; dropped 3")
