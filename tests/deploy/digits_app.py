"""The user's client code for the deployment tests, loaded by ``--app digits_app:client_fn``.

Softmax regression on a fixed partition of sklearn's digits. ``RENGO_TEST_CRASH_ROUND=N``
makes the party's process die in the middle of round N's fit (as a kill would);
``RENGO_TEST_SLOW_WHILE=FILE`` makes each fit take 0.3 s longer while FILE exists (a run
that lasts until a test has changed it).

The digits are read from the file scikit-learn ships, as ``load_digits`` reads it, without
importing scikit-learn: its import (SciPy, pandas, pyarrow with it) took most of each
coordinator's and party's start-up, 4-9 s of the 5-10 s a process took on the loaded 2-core
test machine, and the deployment tests start several such processes each.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from rengo.core.messages import Config, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import FedAvg, LogisticRegressionClient, softmax_init

PARTIES = [f"p{i}" for i in range(5)]
SEED = 7


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """``sklearn.datasets.load_digits(return_X_y=True)``: the same file read the same way
    (``np.loadtxt`` of ``digits.csv.gz``, the last column the integer label), found through
    scikit-learn's package folder without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    assert spec is not None and spec.submodule_search_locations, "scikit-learn is not installed"
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, mode="rt", encoding="utf-8") as text:
        data = np.loadtxt(text, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int, copy=False)


@lru_cache(maxsize=1)
def shards() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    X, y = load_digits()
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
