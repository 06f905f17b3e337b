"""Whether a run's strategy fits its privacy protections, checked before the run is recorded
(a run that could never finish round 1 is refused, not recorded as failed): central DP's clip
norm bounds only an averaging strategy's sensitivity, and secure aggregation releases only the
sum of the updates, which a robust rule or SCAFFOLD cannot work from."""

from __future__ import annotations

from rengo.core.parameters import Parameters
from rengo.hfl.secagg import SecAggPlus
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.dp import DifferentialPrivacy


def check_privacy_fits(strategy: Strategy, workflow: object | None, parameters: Parameters) -> None:
    """Refuse a strategy that the run's central DP or secure aggregation cannot run.

    Parameters
    ----------
    strategy
        The run's strategy (central DP is :class:`DifferentialPrivacy` around another).
    workflow
        The run's fit workflow (secure aggregation is :class:`SecAggPlus`), or None.
    parameters
        The initial model.

    Raises
    ------
    ConfigError
        If DP wraps a strategy that keeps each update or returns more than the model, or
        secure aggregation runs one that needs each update or DP that clips at the
        coordinator.
    """
    if isinstance(strategy, DifferentialPrivacy):
        strategy.check_wrapped(parameters)
    if isinstance(workflow, SecAggPlus):
        workflow.check_strategy(strategy, parameters)
