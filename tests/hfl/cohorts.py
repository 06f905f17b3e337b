"""A test strategy that chooses its cohort by whether one client is still available: a round
that client's decline makes short runs again over the other cohort (tests/hfl/test_round_retry.py
in simulation, tests/deploy/test_deployed_seams.py over gRPC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rengo.core.messages import FitIns
from rengo.core.parameters import Parameters
from rengo.hfl import FedAvg


class Asks(FedAvg):
    """FedAvg that asks the clients ``while_spent`` names while ``spent`` (a client id) is
    available (and not excluded), then those ``after`` names (default: the same ones);
    excluded or not, they are asked."""

    def __init__(
        self,
        while_spent: list[str],
        after: list[str] | None = None,
        spent: str = "spent",
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.while_spent = while_spent
        self.after = while_spent if after is None else after
        self.spent = spent

    def configure_fit(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, FitIns]]:
        asked = self.while_spent if self.spent in client_ids else self.after
        return super().configure_fit(server_round, parameters, asked, rng)
