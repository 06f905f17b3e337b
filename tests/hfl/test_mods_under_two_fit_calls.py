"""The README and ModChain.run said "no mod runs twice in one round"; under Ditto (and
FedRep), which call ``call_next`` twice per fit, every installed mod runs twice per round
(``rengo party``'s report printed two "trained on" lines). The docs now say each mod runs
once per fit call; this pins that behaviour so the sentence stays true."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from rengo.core.messages import EvaluateResult, FitResult
from rengo.hfl import Ditto, simulate
from rengo.hfl.client import Client


class _Probe(Client):
    def fit(self, parameters: Any, config: Any) -> FitResult:
        return FitResult([p + 0.1 for p in parameters], 10, {"loss": 0.5})

    def evaluate(self, parameters: Any, config: Any) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


def test_an_installed_mod_runs_once_per_fit_call_so_twice_a_round_under_ditto() -> None:
    seen: Counter[str] = Counter()

    def counting(call: Any, call_next: Any) -> Any:
        seen[call.key] += 1
        return call_next(call)

    simulate(
        lambda cid: _Probe(),
        3,
        Ditto(min_fit_clients=3, fraction_evaluate=0.0),
        [np.zeros(3)],
        1,
        seed=0,
        client_mods=[counting],
    )
    assert seen["fit"] == 2 * 3  # the global and the personal update of each of 3 clients
