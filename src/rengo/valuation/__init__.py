"""Data valuation: who contributed what to a model, as Shapley-family values.

Generic games over any value function ``v(coalition)``: exact, permutation and truncated
Monte Carlo Shapley (Ghorbani & Zou 2019) and leave-one-out. Sampled estimates carry a
standard error and confidence interval per value, stop on composable rules over those errors
(pyDVL-style: :class:`RelativeStandardError`, :class:`AbsoluteStandardError`,
:class:`HistoryDeviation`, :class:`MaxUpdates`, :class:`MaxSamples`, :class:`MaxTime`,
combined with ``&``/``|``), and turn exact when that costs fewer evaluations than sampling
on. Horizontal FL without retraining: MR and OR indices from models reconstructed out of the
clients' updates (Song et al. 2019), GTG-Shapley (Liu et al. 2022), and
:class:`ContributionTracker`, a round observer that values the clients while the coordinator
runs. Vertical FL: the Shapley value of each feature party by retraining each coalition
(Wang 2019). Values carry no money;
:mod:`rengo.rewards` turns them into payouts.
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

# Imported now: a lazy name equal to a submodule's would be replaced by that submodule
# whenever the submodule is imported first.
from rengo.valuation.party_shapley import party_shapley

if TYPE_CHECKING:
    from rengo.valuation.gtg import GTGConfig, gtg_round_shapley, gtg_shapley
    from rengo.valuation.party_shapley import RetrainScore
    from rengo.valuation.reconstruction import (
        Evaluate,
        RoundUpdates,
        coalition_round_model,
        coalition_whole_run_model,
        fedavg_parameters,
        mr_shapley,
        or_shapley,
        players_of,
        round_value_function,
    )
    from rengo.valuation.shapley import (
        CONFIDENCE,
        CountingValue,
        NonFiniteValueError,
        ShapleyResult,
        ValueFunction,
        exact_shapley,
        leave_one_out,
        permutation_shapley,
        tmc_shapley,
    )
    from rengo.valuation.stopping import (
        AbsoluteStandardError,
        ConvergenceRule,
        HistoryDeviation,
        MaxEvaluations,
        MaxSamples,
        MaxTime,
        MaxUpdates,
        MinUpdates,
        RelativeStandardError,
        SamplingProgress,
        StoppingCriterion,
        default_stopping,
    )
    from rengo.valuation.tracker import (
        METHODS,
        ContributionReport,
        ContributionTracker,
        RoundContribution,
        validation_score,
    )
    from rengo.valuation.vertical import VerticalContribution, vertical_party_contribution


__all__ = [
    "CONFIDENCE",
    "METHODS",
    "AbsoluteStandardError",
    "ContributionReport",
    "ContributionTracker",
    "ConvergenceRule",
    "CountingValue",
    "Evaluate",
    "GTGConfig",
    "HistoryDeviation",
    "MaxEvaluations",
    "MaxSamples",
    "MaxTime",
    "MaxUpdates",
    "MinUpdates",
    "NonFiniteValueError",
    "RelativeStandardError",
    "RetrainScore",
    "RoundContribution",
    "RoundUpdates",
    "SamplingProgress",
    "ShapleyResult",
    "StoppingCriterion",
    "ValueFunction",
    "VerticalContribution",
    "coalition_round_model",
    "coalition_whole_run_model",
    "default_stopping",
    "exact_shapley",
    "fedavg_parameters",
    "gtg_round_shapley",
    "gtg_shapley",
    "leave_one_out",
    "mr_shapley",
    "or_shapley",
    "party_shapley",
    "permutation_shapley",
    "players_of",
    "round_value_function",
    "tmc_shapley",
    "validation_score",
    "vertical_party_contribution",
]

__getattr__, __dir__ = lazy_exports(__name__)
