"""The user's client code for the deployment tests, loaded by ``--app digits_app:client_fn``.

Softmax regression on a fixed partition of sklearn's digits. ``RENGO_TEST_CRASH_ROUND=N``
makes the party's process die in the middle of round N's fit (as a kill would);
``RENGO_TEST_SLOW_WHILE=FILE`` makes each fit take 0.3 s longer while FILE exists (a run
that lasts until a test has changed it).
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

import numpy as np
from sklearn.datasets import load_digits

from rengo.core.messages import Config, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import FedAvg, LogisticRegressionClient, softmax_init

PARTIES = [f"p{i}" for i in range(5)]
SEED = 7


@lru_cache(maxsize=1)
def shards() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    parts = np.array_split(order, len(PARTIES))
    return {name: (X[idx] / 16.0, y[idx]) for name, idx in zip(PARTIES, parts, strict=True)}


class CrashingClient(LogisticRegressionClient):
    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        crash = os.environ.get("RENGO_TEST_CRASH_ROUND")
        if crash is not None and int(config.get("server_round", 0)) == int(crash):  # type: ignore[arg-type]
            os._exit(3)
        hold = os.environ.get("RENGO_TEST_SLOW_WHILE")
        if hold is not None and os.path.exists(hold):
            time.sleep(0.3)
        return super().fit(parameters, config)


def client_fn(cid: str) -> LogisticRegressionClient:
    X, y = shards()[cid]
    return CrashingClient(X, y, lr=0.2, local_epochs=1, batch_size=32)


def strategy(num_parties: int) -> FedAvg:
    return FedAvg(min_fit_clients=2, min_available_clients=2, min_evaluate_clients=num_parties)


def initial_parameters() -> Parameters:
    return softmax_init(64, 10)
