"""The client side of horizontal FL: what a user implements, and how messages reach it.

A client implements ``fit`` and ``evaluate``. The same object runs in simulation (serial,
process pool, Ray) and deployed over gRPC: the transport calls :func:`client_handler`, which
decodes the coordinator's typed message, calls the client and encodes its answer.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from rengo.core.codec import decode, encode
from rengo.core.errors import ProtocolError
from rengo.core.messages import Config, EvaluateIns, EvaluateResult, FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.transport.pool import Handler

FIT = "fit"
EVALUATE = "evaluate"


class Client(ABC):
    """A participant in horizontal FL.

    ``state`` is this client's persisted memory between rounds (SCAFFOLD's control variate,
    personalised layers...): a dict of codec-encodable values that the runtime restores
    before each call and saves after it, wherever the client runs.
    """

    state: dict[str, Any]

    def __init__(self) -> None:
        self.state = {}

    @abstractmethod
    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """Train from ``parameters`` on local data; return new parameters and example count."""

    @abstractmethod
    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """Evaluate ``parameters`` on local data."""


ClientFn = Callable[[str], Client]
"""Builds the client with a given id (simulation calls it on demand, in any process)."""


def client_handler(client_fn: ClientFn) -> Handler:
    """Wrap ``client_fn`` as a transport :data:`Handler` (bytes in, bytes out)."""

    def handle(
        client_id: str, key: str, payload: bytes, state: bytes | None
    ) -> tuple[bytes, bytes | None]:
        client = client_fn(client_id)
        client.state = dict(decode(bytearray(state))) if state else {}
        message = decode(bytearray(payload))
        if key == FIT:
            if not isinstance(message, FitIns):
                raise ProtocolError(f"'fit' carried {type(message).__name__}, not FitIns")
            result: Any = client.fit(message.parameters, message.config)
            if not isinstance(result, FitResult):
                raise TypeError(f"fit() returned {type(result).__name__}, not FitResult")
        elif key == EVALUATE:
            if not isinstance(message, EvaluateIns):
                raise ProtocolError(f"'evaluate' carried {type(message).__name__}")
            result = client.evaluate(message.parameters, message.config)
            if not isinstance(result, EvaluateResult):
                raise TypeError(f"evaluate() returned {type(result).__name__}")
        else:
            raise ProtocolError(f"unknown message key {key!r}")
        return encode(result), (encode(client.state) if client.state else None)

    return handle


def client_seed(run_seed: int, server_round: int, client_id: str) -> int:
    """A per-client, per-round seed derived from the run seed; identical on every executor."""
    digest = hashlib.blake2b(client_id.encode(), digest_size=8).digest()
    seq = np.random.SeedSequence([run_seed, server_round, int.from_bytes(digest, "little")])
    return int(seq.generate_state(1, dtype=np.uint32)[0])
