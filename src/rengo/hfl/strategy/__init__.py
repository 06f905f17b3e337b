"""Aggregation strategies for horizontal FL, each citing its paper."""

from rengo.hfl.strategy.base import EvaluateFn, Strategy, WeightedSum, sample_clients
from rengo.hfl.strategy.fedavg import FedAvg, FedProx
from rengo.hfl.strategy.fedopt import FedAdagrad, FedAdam, FedOpt, FedYogi
from rengo.hfl.strategy.robust import (
    FedMedian,
    FedTrimmedAvg,
    Krum,
    UpdateStack,
    krum_scores,
    trimmed_mean,
)
from rengo.hfl.strategy.scaffold import CONTROL_KEY, Scaffold

__all__ = [
    "CONTROL_KEY",
    "EvaluateFn",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedMedian",
    "FedOpt",
    "FedProx",
    "FedTrimmedAvg",
    "FedYogi",
    "Krum",
    "Scaffold",
    "Strategy",
    "UpdateStack",
    "WeightedSum",
    "krum_scores",
    "sample_clients",
    "trimmed_mean",
]
