"""A round's aggregation replayed on any subset (coalition) of its results, so contribution
accounting can rebuild the model the run's own strategy would have made from them.

The coordinator hands an observer that asks for it (``on_coalition_aggregation``) a
:class:`CoalitionAggregation` after the round's results are in and before it aggregates
them. It holds a shallow copy of the strategy and the server state the round started its
aggregation from (FedAdam's moments, SCAFFOLD's control variate, centred clipping's centre):
each call folds the coalition's results through the strategy's own ``accumulator`` /
``add_result`` / ``aggregate_fit`` with the round's aggregation generator, from that state.
Server state is a frozen dataclass that ``aggregate_fit`` replaces and never mutates
(:mod:`rengo.hfl.strategy.base`), so a replay never changes the run's strategy, and the
whole round's results give the run's new model bit for bit.

Two kinds of strategy are not replayed (:func:`replays_aggregation`): central DP, whose
clipping and noise are accounted as they are drawn, and any strategy that wraps another.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.messages import FitResult
from rengo.core.parameters import Parameters, copy_parameters
from rengo.hfl.strategy.aggregate_call import aggregate_with_rng
from rengo.hfl.strategy.base import Strategy, wrapped_strategies
from rengo.hfl.strategy.dp import DifferentialPrivacy
from rengo.hfl.strategy.fedavg import FedAvg

log = logging.getLogger("rengo.hfl")


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


def replays_aggregation(strategy: Strategy) -> bool:
    """Whether a coalition's model can be rebuilt through ``strategy``'s own aggregation:
    not under central DP (its noise is drawn and accounted once, by the run) and not a
    strategy wrapping another (its inner state would be shared by the copy)."""
    if isinstance(strategy, DifferentialPrivacy):
        return False
    return list(wrapped_strategies(strategy)) == [strategy]


def offers_coalition_aggregation(strategy: Strategy) -> bool:
    """Whether the coordinator hands observers a :class:`CoalitionAggregation`: for a
    strategy that aggregates otherwise than FedAvg (whose coalition models the valuation
    rebuilds itself, bit for bit) and whose aggregation can be replayed."""
    return not averages_like_fedavg(strategy) and replays_aggregation(strategy)


@dataclass(frozen=True)
class CoalitionAggregation:
    """The model ``strategy`` makes from a subset of one round's results.

    Make it with :meth:`snapshot`, before the round is aggregated.

    Parameters
    ----------
    strategy
        A shallow copy of the run's strategy (never the run's own).
    state
        The strategy's server state before the round's aggregation.
    server_round
        The round.
    parameters
        The global model the round started from (w_t).
    rng
        Makes the round's aggregation generator afresh for each coalition.
    """

    strategy: Strategy
    state: Any
    server_round: int
    parameters: Parameters
    rng: Callable[[], np.random.Generator]

    @classmethod
    def snapshot(
        cls,
        strategy: Strategy,
        server_round: int,
        parameters: Parameters,
        rng: Callable[[], np.random.Generator],
    ) -> CoalitionAggregation:
        """Capture ``strategy`` and its server state as they are now (before the round's
        ``aggregate_fit``).

        Parameters
        ----------
        strategy
            The run's strategy; it is copied, never called.
        server_round, parameters
            The round and the global model it started from.
        rng
            Returns the generator the run's ``aggregate_fit`` gets this round.

        Returns
        -------
        CoalitionAggregation
            The replay.
        """
        return cls(copy.copy(strategy), strategy.server_state, server_round, parameters, rng)

    def __call__(self, results: Sequence[tuple[str, FitResult]]) -> Parameters:
        """The model the strategy makes from ``results`` (client id, result), in order.

        A coalition with no results, or one the strategy's rule refuses (Krum and Bulyan
        need more updates than some coalitions hold; a trimmed mean may trim them all; all
        weights 0), leaves the model where it was, w_t: a round the rule refuses changes
        nothing in the run either.

        Parameters
        ----------
        results
            The coalition's members' results, as the run's strategy received them.

        Returns
        -------
        list of numpy.ndarray
            The coalition's model.
        """
        if not results:
            return copy_parameters(self.parameters)
        self.strategy.server_state = self.state  # replaced, never mutated, by aggregate_fit
        acc = self.strategy.accumulator(self.server_round, self.parameters)
        for client_id, result in results:
            self.strategy.add_result(acc, client_id, result)
        try:
            aggregate = aggregate_with_rng(
                self.strategy, self.server_round, self.parameters, acc, self.rng()
            )
        except ValueError as exc:  # the rule cannot aggregate so few (DataError included)
            log.debug(
                "round %d: %s cannot aggregate the coalition %s (%s); valued as w_t",
                self.server_round,
                self.strategy.name,
                [c for c, _ in results],
                exc,
            )
            return copy_parameters(self.parameters)
        finally:
            self.strategy.server_state = self.state
        return aggregate.parameters
