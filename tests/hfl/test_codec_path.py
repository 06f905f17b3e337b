"""The round loop talks to its ClientPool in codec bytes only, exactly as over gRPC."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from rengo.core.codec import decode
from rengo.core.messages import EvaluateIns, FitIns
from rengo.hfl import Coordinator, FedAvg, client_handler, client_seed
from rengo.hfl.client import EVALUATE, FIT
from rengo.transport.pool import Handler, Reply, Request


class RecordingPool:
    """A ClientPool test double: records every request, answers through a client handler."""

    def __init__(self, handler: Handler, ids: Sequence[str]) -> None:
        self.handler = handler
        self.ids = list(ids)
        self.requests: list[Request] = []
        self.timeouts: list[float | None] = []

    def client_ids(self) -> list[str]:
        return list(self.ids)

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        self.timeouts.append(timeout)
        for req in requests:
            self.requests.append(req)
            payload, _state = self.handler(req.client_id, req.key, req.payload, None)
            yield Reply(req.client_id, req.key, payload, None, len(req.payload), len(payload), 0.0)

    def close(self) -> None:
        pass


def test_round_loop_passes_only_codec_bytes_to_the_pool(logistic_client_fn) -> None:
    pool = RecordingPool(client_handler(logistic_client_fn), [str(i) for i in range(6)])
    strategy = FedAvg(
        fraction_fit=0.5,
        min_fit_clients=2,
        fraction_evaluate=0.5,
        on_fit_config=lambda r: {"lr": 0.05},
    )
    model = [np.zeros((4, 3)), np.zeros(3)]
    coordinator = Coordinator(strategy, pool, model, seed=9, round_timeout=7.5)
    history = coordinator.run(2)

    assert pool.timeouts == [7.5] * 4  # fit and evaluate, two rounds
    assert {type(r.payload) for r in pool.requests} == {bytes}
    fits = [r for r in pool.requests if r.key == FIT]
    evals = [r for r in pool.requests if r.key == EVALUATE]
    assert len(fits) == 6 and len(evals) == 6
    for i, req in enumerate(fits):
        message = decode(req.payload)
        assert isinstance(message, FitIns)
        server_round = 1 + i // 3
        assert message.config == {
            "lr": 0.05,
            "seed": client_seed(9, server_round, req.client_id),
            "server_round": server_round,
            "coordinator_seed": client_seed(9, server_round, req.client_id),
        }
        assert [p.shape for p in message.parameters] == [(4, 3), (3,)]
    for req in fits[:3]:
        assert all(not np.any(p) for p in decode(req.payload).parameters)
    last_eval = decode(evals[-1].payload)
    assert isinstance(last_eval, EvaluateIns)
    for sent, final in zip(last_eval.parameters, history.parameters, strict=True):
        np.testing.assert_array_equal(sent, final)
