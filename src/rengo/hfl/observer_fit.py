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
- it rebuilds each coalition's model as the run's strategy would have made it: the coordinator
  replays the round's aggregation (a server optimiser, a robust rule, SCAFFOLD, clipping) on
  the coalition's results from the state the round started with
  (:class:`~rengo.hfl.coalition_aggregation.CoalitionAggregation`), so the values add up to
  the run's score changes. Where that cannot be done - central DP (its noise is drawn and
  accounted once), a strategy wrapping another, or an observer that rebuilds whole-run
  models (method "or") - coalitions are rebuilt as FedAvg of their updates, the values
  describe FedAvg's models, not the run's, and that is warned about, naming the strategy.
- under a personalising strategy (FedPer, FedRep, FedBN, Ditto, FedAvgFineTune) the
  coordinator's global model it values is not what the clients use: warned about too
  (:func:`~rengo.hfl.strategy.personalised.personalised_valuation_caveat`).

The observer says what it does by attributes (the coordinator does not import the trackers
above it): ``values_each_update`` (it values each client's update), ``outside_dp`` (its
values may be published outside a DP guarantee), ``rebuilds_with_strategy`` (it takes the
round's replayed aggregation through ``on_coalition_aggregation``); one that has
``note_caveat(message)`` is also handed the FedAvg warning, to record with its values.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from rengo.core.errors import ConfigError
from rengo.hfl.coalition_aggregation import averages_like_fedavg, replays_aggregation
from rengo.hfl.secagg import SecAggPlus
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.dp import DifferentialPrivacy
from rengo.hfl.strategy.personalised import personalised_valuation_caveat

__all__ = ["ValuedAsFedAvgWarning", "averages_like_fedavg", "check_observers_fit"]


class ValuedAsFedAvgWarning(UserWarning):
    """Contribution values rebuild coalition models as FedAvg, which the run's strategy is
    not (and whose aggregation cannot be replayed for them): they describe FedAvg's models
    and do not add up to the run's score changes."""


def check_observers_fit(
    strategy: Strategy, workflow: object | None, observers: Sequence[object]
) -> None:
    """Refuse an observer that would publish per-client values outside central DP's
    guarantee, and warn when contribution values rebuild FedAvg under another strategy
    (where its aggregation cannot be replayed per coalition).

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
        If an observer values each update, the strategy does not average like FedAvg, and
        the observer does not rebuild coalitions through the strategy or the strategy's
        aggregation cannot be replayed (central DP, a wrapping strategy).
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
    if averages_like_fedavg(strategy):
        return
    replayed = replays_aggregation(strategy)
    if replayed and all(getattr(o, "rebuilds_with_strategy", False) for o in valuing):
        return
    why = (
        "the contribution observer does not rebuild through it (method 'or' rebuilds "
        "whole-run models)"
        if replayed
        else "its aggregation cannot be replayed per coalition (central DP draws and "
        "accounts its noise once; a wrapping strategy shares its inner state)"
    )
    message = (
        f"contribution values rebuild each coalition's model as the FedAvg of its updates, "
        f"but {strategy.name} aggregates otherwise and {why}: the values describe FedAvg's "
        "models and do not add up to this run's score changes"
    )
    for observer in valuing:  # the values carry it to the run's record (and its payers)
        note = getattr(observer, "note_caveat", None)
        if callable(note):
            note(message)
    warnings.warn(message, ValuedAsFedAvgWarning, stacklevel=3)
