"""Whether a run's observers can do what they are for with its strategy and privacy, checked
before the run is recorded.

A contribution tracker (:class:`rengo.valuation.ContributionTracker`) values each client by
the models of coalitions of the updates it saw in the clear:

- under central DP (:class:`~rengo.hfl.strategy.dp.DifferentialPrivacy`) those values are
  functions of each client's raw update, which the DP guarantee does not cover: published as
  values and payouts, they reveal more about a client than epsilon allows. Such a run is
  refused unless the tracker was told so (``outside_dp=True``). Under secure aggregation it
  sees only the sum and values each round at group level, from released models only, so
  there is nothing to refuse.
- it rebuilds each coalition's model as the example-weighted mean of its updates (FedAvg). A
  strategy that aggregates otherwise (a server optimiser, a robust rule, SCAFFOLD, clipping)
  makes the values describe FedAvg's models, not the run's: they no longer add up to the
  run's score changes. That is warned about, naming the strategy.
- under a personalising strategy (FedPer, FedRep, FedBN, Ditto, FedAvgFineTune) the
  coordinator's global model it values is not what the clients use: warned about too
  (:func:`~rengo.hfl.strategy.personalised.personalised_valuation_caveat`).

The observer says what it does by attributes (the coordinator does not import the trackers
above it): ``values_each_update`` (it values each client's update), ``outside_dp`` (its
values may be published outside a DP guarantee).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from rengo.core.errors import ConfigError
from rengo.hfl.secagg import SecAggPlus
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.dp import DifferentialPrivacy
from rengo.hfl.strategy.fedavg import FedAvg
from rengo.hfl.strategy.personalised import personalised_valuation_caveat


class ValuedAsFedAvgWarning(UserWarning):
    """Contribution values rebuild coalition models as FedAvg, which the run's strategy is
    not: they describe FedAvg's models and do not add up to the run's score changes."""


def averages_like_fedavg(strategy: Strategy) -> bool:
    """Whether ``strategy``'s new model is the example-weighted mean of the round's results
    (FedAvg, FedProx and the personalised strategies, whose personal layers come back
    unchanged), by its aggregation methods being FedAvg's own."""
    kind = type(strategy)
    return (
        kind.accumulator is Strategy.accumulator
        and kind.add_result is Strategy.add_result
        and kind.aggregate_fit in (FedAvg.aggregate_fit, Strategy.aggregate_fit)
    )


def check_observers_fit(
    strategy: Strategy, workflow: object | None, observers: Sequence[object]
) -> None:
    """Refuse an observer that would publish per-client values outside central DP's
    guarantee, and warn when contribution values rebuild FedAvg under another strategy.

    Parameters
    ----------
    strategy
        The run's strategy.
    workflow
        The run's fit workflow (secure aggregation shows observers only the sum).
    observers
        The run's round observers.

    Raises
    ------
    ConfigError
        If the strategy is central DP, the updates are not securely aggregated and an
        observer values each update without ``outside_dp=True``.

    Warns
    -----
    ValuedAsFedAvgWarning
        If an observer values each update and the strategy does not average like FedAvg.
    UserWarning
        If an observer values each update and the strategy personalises.
    """
    valuing = [o for o in observers if getattr(o, "values_each_update", False)]
    if not valuing or isinstance(workflow, SecAggPlus):
        return
    accepted = all(getattr(o, "outside_dp", False) for o in valuing)
    if isinstance(strategy, DifferentialPrivacy) and not accepted:
        raise ConfigError(
            "central DP with per-client contribution values: the values come from each "
            "client's raw update, which the DP guarantee does not cover (published values "
            "and payouts would reveal more about a client than epsilon allows); run the "
            "contribution without DP, add secure aggregation (values at group level, from "
            "released models only), or accept it with ContributionTracker(..., "
            "outside_dp=True) / [contribution] outside_dp = true"
        )
    caveat = personalised_valuation_caveat(strategy)
    if caveat is not None:
        warnings.warn(f"contribution values: {caveat}", UserWarning, stacklevel=3)
    if not averages_like_fedavg(strategy):  # DP too: its clipping and noise are not FedAvg
        warnings.warn(
            f"contribution values rebuild each coalition's model as the FedAvg of its updates, "
            f"but {strategy.name} aggregates otherwise: the values describe FedAvg's models and "
            "do not add up to this run's score changes",
            ValuedAsFedAvgWarning,
            stacklevel=3,
        )
