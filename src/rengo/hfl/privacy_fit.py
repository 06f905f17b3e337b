"""Whether a run's strategy fits its privacy protections, checked before the run is recorded
(a run that could never finish round 1 is refused, not recorded as failed): central DP's clip
norm bounds only an averaging strategy's sensitivity, and secure aggregation releases only the
sum of the updates, which a robust rule or SCAFFOLD cannot work from; and the result checks
that compare each update with the round's median cannot run under central DP."""

from __future__ import annotations

import logging

from rengo.core.errors import ConfigError
from rengo.core.parameters import Parameters
from rengo.hfl.result_checks import ResultChecks
from rengo.hfl.strategy.base import Strategy
from rengo.hfl.strategy.dp import DifferentialPrivacy

log = logging.getLogger("rengo.hfl")


def check_privacy_fits(strategy: Strategy, workflow: object | None, parameters: Parameters) -> None:
    """Refuse a strategy that the run's central DP or secure aggregation cannot run.

    Parameters
    ----------
    strategy
        The run's strategy (central DP is :class:`DifferentialPrivacy` around another).
    workflow
        The run's fit workflow, or None: one that runs only some strategies (secure
        aggregation, update compression) says so in its ``check_strategy``.
    parameters
        The initial model.

    Raises
    ------
    ConfigError
        If DP wraps a strategy that keeps each update or returns more than the model,
        secure aggregation runs one that needs each update or DP that clips at the
        coordinator, or update compression runs one whose clients send no model
        (q-FedAvg).
    """
    if isinstance(strategy, DifferentialPrivacy):
        strategy.check_wrapped(parameters)
    check_strategy = getattr(workflow, "check_strategy", None)  # see FitWorkflow
    if check_strategy is not None:
        check_strategy(strategy, parameters)


def releases_short_rounds(strategy: Strategy) -> bool:
    """Whether ``strategy`` is central DP, whose round short of replies is released under
    ``on_short_round = "skip"`` instead of skipped.

    Whether a round is skipped depends on how many sampled clients replied, a count no noise
    covers: a skip-or-release pattern would show every round whether one more client took
    part, outside what the accountant composes. DP-FedAvg's mean is the noised clipped sum
    over the expected count ``q N``, whoever replied, so a client that dropped is one that
    added nothing; releasing the noised sum of those that replied (of none: the noise
    alone, as for an empty Poisson sample) and accounting the round keeps the guarantee.

    Parameters
    ----------
    strategy
        The run's strategy.

    Returns
    -------
    bool
        True for :class:`DifferentialPrivacy`.
    """
    return isinstance(strategy, DifferentialPrivacy)


def check_checkpoint_interval(strategy: Strategy, checkpoint_every: int) -> None:
    """Refuse to checkpoint a central-DP run less often than every round.

    Every round releases a noised model (to the next round's clients, the run store,
    federated evaluation). A resume from a checkpoint ``k`` rounds old runs those rounds
    again with fresh noise, and the restored accountant counts each once more: ``k - 1``
    released rounds would be missing from the epsilon the run reports.

    Parameters
    ----------
    strategy
        The run's strategy (central DP is :class:`DifferentialPrivacy` around another).
    checkpoint_every
        Rounds between checkpoints (0: none, so no resume).

    Raises
    ------
    ConfigError
        If ``strategy`` is central DP and ``checkpoint_every`` is above 1.
    """
    if isinstance(strategy, DifferentialPrivacy) and checkpoint_every > 1:
        raise ConfigError(
            f"{strategy.name}: checkpoint_every={checkpoint_every}, but a resume would run the "
            "rounds after the last checkpoint again and account for their first, released "
            "run nowhere: checkpoint every round (checkpoint_every=1) or not at all (0)"
        )


def checks_under_dp(strategy: Strategy, checks: ResultChecks) -> ResultChecks:
    """``checks`` without the median rules when ``strategy`` is central DP.

    ``max_update_norm_ratio`` refuses, and ``max_weight_ratio`` caps, each result relative
    to the round's median: adding or removing one client moves the median, and with it
    whether *other* clients' updates are counted (and, under bounded weighting, how much).
    The released sum then moves by more than the clip norm the accountant assumes (measured:
    one client added to norms 1, 1, 20, 20 at C = 1 turned a sum of norm 2 into one of 5,
    3C). DP-FedAvg's clipping already bounds every client's influence, so the rules go,
    with a warning; the absolute claim bound and the overflow guard stay.

    Parameters
    ----------
    strategy
        The run's strategy (central DP is :class:`DifferentialPrivacy` around another).
    checks
        The coordinator's checks of every result.

    Returns
    -------
    ResultChecks
        ``checks``, without ``max_weight_ratio`` and ``max_update_norm_ratio`` under DP.
    """
    if not isinstance(strategy, DifferentialPrivacy) or not checks.needs_whole_round:
        return checks
    log.warning(
        "result checks max_weight_ratio and max_update_norm_ratio are off under central DP: "
        "they compare each update with the round's median, so one client would change "
        "which others count and the clip norm would no longer bound its influence"
    )
    return checks.without_median_rules()
