"""Aggregation strategies for horizontal FL, each citing its paper, and their registry."""

from rengo.hfl.mods.scaffold import CONTROL_KEY
from rengo.hfl.strategy.base import (
    Aggregate,
    EvaluateFn,
    ServerState,
    Strategy,
    WeightedSum,
    as_aggregate,
    cast_like,
    sample_clients,
)
from rengo.hfl.strategy.bulyan import Bulyan, bulyan
from rengo.hfl.strategy.centred_clipping import (
    CentredClipping,
    CentredClippingState,
    centred_clip,
)
from rengo.hfl.strategy.dp import ClippedDeltaSum, DifferentialPrivacy
from rengo.hfl.strategy.fedavg import FedAvg, FedProx
from rengo.hfl.strategy.fedavgm import FedAvgM, FedAvgMState, fedavgm_step
from rengo.hfl.strategy.fedopt import (
    FedAdagrad,
    FedAdam,
    FedOpt,
    FedOptState,
    FedYogi,
    fedopt_step,
)
from rengo.hfl.strategy.norm_bounding import NormBoundedAvg
from rengo.hfl.strategy.personalised import Ditto, FedAvgFineTune, FedBN, FedPer, FedRep
from rengo.hfl.strategy.qfedavg import QFedAvg, qffl_step
from rengo.hfl.strategy.registry import (
    RegisteredStrategy,
    StrategyOption,
    get_strategy,
    register_strategy,
    strategy_from_app,
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
    "Bulyan",
    "CentredClipping",
    "CentredClippingState",
    "ClippedDeltaSum",
    "DifferentialPrivacy",
    "Ditto",
    "EvaluateFn",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedAvgFineTune",
    "FedAvgM",
    "FedAvgMState",
    "FedBN",
    "FedMedian",
    "FedOpt",
    "FedOptState",
    "FedPer",
    "FedProx",
    "FedRep",
    "FedTrimmedAvg",
    "FedYogi",
    "Krum",
    "NormBoundedAvg",
    "QFedAvg",
    "RegisteredStrategy",
    "Scaffold",
    "ScaffoldState",
    "ServerState",
    "Strategy",
    "StrategyOption",
    "UpdateStack",
    "WeightedSum",
    "as_aggregate",
    "bulyan",
    "cast_like",
    "centred_clip",
    "fedavgm_step",
    "fedopt_step",
    "get_strategy",
    "krum_scores",
    "qffl_step",
    "register_strategy",
    "sample_clients",
    "scaffold_step",
    "strategy_from_app",
    "strategy_options",
    "strategy_registry",
    "trimmed_mean",
]
