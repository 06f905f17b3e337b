"""Horizontal federated learning: clients, strategies, the round loop and simulation.

PyTorch support lives in :mod:`rengo.hfl.torch_client` (import it explicitly; it needs the
``torch`` extra). Everything here works with numpy alone.
"""

from rengo.hfl.client import Client, ClientFn, client_handler, client_seed
from rengo.hfl.coordinator import Coordinator, History, RoundObserver, RoundRecord
from rengo.hfl.numpy_client import (
    LogisticRegressionClient,
    softmax_init,
    softmax_loss_grad,
    softmax_predict,
)
from rengo.hfl.simulation import EXECUTORS, make_pool, simulate
from rengo.hfl.strategy import (
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedMedian,
    FedOpt,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    Scaffold,
    Strategy,
    WeightedSum,
)

__all__ = [
    "EXECUTORS",
    "Client",
    "ClientFn",
    "Coordinator",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedMedian",
    "FedOpt",
    "FedProx",
    "FedTrimmedAvg",
    "FedYogi",
    "History",
    "Krum",
    "LogisticRegressionClient",
    "RoundObserver",
    "RoundRecord",
    "Scaffold",
    "Strategy",
    "WeightedSum",
    "client_handler",
    "client_seed",
    "make_pool",
    "simulate",
    "softmax_init",
    "softmax_loss_grad",
    "softmax_predict",
]
