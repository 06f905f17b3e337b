"""Horizontal federated learning: clients, client mods, strategies, round workflows, the
round loop and simulation; secure aggregation (SecAgg+, :class:`SecAggPlus`) is one round
workflow.

PyTorch support lives in :mod:`rengo.hfl.torch_client` (import it explicitly; it needs the
``torch`` extra). Everything here works with numpy alone.
"""

from typing import Any

from rengo.hfl.client import Client, ClientFn, call_client, client_handler, client_seed, with_mods
from rengo.hfl.coordinator import Coordinator, History, RoundObserver, RoundRecord
from rengo.hfl.local_training import (
    BatchTransform,
    GradientCorrection,
    LocalTraining,
    ProximalTerm,
)
from rengo.hfl.mods import (
    CallNext,
    ClientCall,
    ClientMod,
    ClipUpdateMod,
    DPClipMod,
    FedProxMod,
    LocalLayersMod,
    Mod,
    ScaffoldMod,
    register_mod,
    registered_mods,
)
from rengo.hfl.numpy_client import (
    LogisticRegressionClient,
    softmax_init,
    softmax_loss_grad,
    softmax_predict,
)
from rengo.hfl.result_checks import ResultChecks
from rengo.hfl.secagg import SecAggMod, SecAggPlus, SecAggReport
from rengo.hfl.simulation import make_pool, simulate
from rengo.hfl.strategy import (
    Aggregate,
    Bulyan,
    CentredClipping,
    CentredClippingState,
    ClippedDeltaSum,
    DifferentialPrivacy,
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedMedian,
    FedOpt,
    FedOptState,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    NormBoundedAvg,
    RegisteredStrategy,
    Scaffold,
    ScaffoldState,
    ServerState,
    Strategy,
    StrategyOption,
    WeightedSum,
    cast_like,
    get_strategy,
    register_strategy,
    strategy_registry,
)
from rengo.hfl.workflow import FitRound, FitWorkflow, SingleExchange

__all__ = [
    "Aggregate",
    "BatchTransform",
    "Bulyan",
    "CallNext",
    "CentredClipping",
    "CentredClippingState",
    "Client",
    "ClientCall",
    "ClientFn",
    "ClientMod",
    "ClipUpdateMod",
    "ClippedDeltaSum",
    "Coordinator",
    "DPClipMod",
    "DifferentialPrivacy",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedMedian",
    "FedOpt",
    "FedOptState",
    "FedProx",
    "FedProxMod",
    "FedTrimmedAvg",
    "FedYogi",
    "FitRound",
    "FitWorkflow",
    "GradientCorrection",
    "History",
    "Krum",
    "LocalLayersMod",
    "LocalTraining",
    "LogisticRegressionClient",
    "Mod",
    "NormBoundedAvg",
    "ProximalTerm",
    "RegisteredStrategy",
    "ResultChecks",
    "RoundObserver",
    "RoundRecord",
    "Scaffold",
    "ScaffoldMod",
    "ScaffoldState",
    "SecAggMod",
    "SecAggPlus",
    "SecAggReport",
    "ServerState",
    "SingleExchange",
    "Strategy",
    "StrategyOption",
    "WeightedSum",
    "call_client",
    "cast_like",
    "client_handler",
    "client_seed",
    "get_strategy",
    "make_pool",
    "register_mod",
    "register_strategy",
    "registered_mods",
    "simulate",
    "softmax_init",
    "softmax_loss_grad",
    "softmax_predict",
    "strategy_registry",
    "with_mods",
]


def __getattr__(name: str) -> Any:
    if name == "EXECUTORS":  # deprecated: rengo.transport.executor_names()
        from rengo.hfl import simulation

        return simulation.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
