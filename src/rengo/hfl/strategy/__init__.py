"""Aggregation strategies for horizontal FL, each citing its paper, and their registry."""

from rengo.hfl.mods.scaffold import CONTROL_KEY
from rengo.hfl.strategy.base import (
    Aggregate,
    EvaluateFn,
    ServerState,
    Strategy,
    WeightedSum,
    as_aggregate,
    sample_clients,
)
from rengo.hfl.strategy.dp import ClippedDeltaSum, DifferentialPrivacy
from rengo.hfl.strategy.fedavg import FedAvg, FedProx
from rengo.hfl.strategy.fedopt import (
    FedAdagrad,
    FedAdam,
    FedOpt,
    FedOptState,
    FedYogi,
    fedopt_step,
)
from rengo.hfl.strategy.registry import (
    RegisteredStrategy,
    StrategyOption,
    get_strategy,
    register_strategy,
    strategy_options,
    strategy_registry,
)
from rengo.hfl.strategy.robust import (
    FedMedian,
    FedTrimmedAvg,
    Krum,
    UpdateStack,
    krum_scores,
    trimmed_mean,
)
from rengo.hfl.strategy.scaffold import Scaffold, ScaffoldState, scaffold_step

__all__ = [
    "CONTROL_KEY",
    "Aggregate",
    "ClippedDeltaSum",
    "DifferentialPrivacy",
    "EvaluateFn",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedMedian",
    "FedOpt",
    "FedOptState",
    "FedProx",
    "FedTrimmedAvg",
    "FedYogi",
    "Krum",
    "RegisteredStrategy",
    "Scaffold",
    "ScaffoldState",
    "ServerState",
    "Strategy",
    "StrategyOption",
    "UpdateStack",
    "WeightedSum",
    "as_aggregate",
    "fedopt_step",
    "get_strategy",
    "krum_scores",
    "register_strategy",
    "sample_clients",
    "scaffold_step",
    "strategy_options",
    "strategy_registry",
    "trimmed_mean",
]
