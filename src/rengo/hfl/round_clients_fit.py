"""Whether a run's rounds can be run with the clients it has: the checks of its fit workflow
and round observers that depend on how many clients a round samples (secure aggregation
needs at least 3; exact per-round Shapley values at most 12).

Each defines ``check_round_clients(clients)``, raising
:class:`~rengo.core.errors.ConfigError`; the rounds call the same check, so a run that
passes here is not failed later by it. A deployed run calls this before it is recorded
and before it changes its parties mid-run (``rengo runs parties``).
"""

from __future__ import annotations

from collections.abc import Sequence

from rengo.hfl.strategy.base import Strategy

__all__ = ["check_round_clients_fit"]


def check_round_clients_fit(
    strategy: Strategy, workflow: object | None, observers: Sequence[object], available: int
) -> None:
    """Refuse a run whose rounds, with ``available`` clients to sample from, its workflow or
    an observer could not run.

    Parameters
    ----------
    strategy
        The run's strategy (how many of ``available`` a round samples).
    workflow
        The run's fit workflow (None: plain FedAvg-style fit).
    observers
        The run's round observers.
    available
        How many clients the run's rounds sample from.

    Raises
    ------
    ConfigError
        From the first of ``workflow`` and ``observers`` whose ``check_round_clients``
        refuses rounds of ``strategy.num_fit_clients(available)`` clients (at most
        ``available``).
    """
    # a round samples at most the clients there are, whatever the strategy's minimum asks
    sampled = min(strategy.num_fit_clients(available), available)
    for part in (workflow, *observers):
        check = getattr(part, "check_round_clients", None)
        if callable(check):
            check(sampled)
