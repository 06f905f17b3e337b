"""What happens when a privacy budget is spent: training stops before it is exceeded."""

from __future__ import annotations

import re

from rengo.core.errors import StopTraining
from rengo.privacy.epsilon_text import epsilon_shown


class PrivacyBudgetExhausted(StopTraining):
    """The next round would take epsilon past the target: the run stops with the model of
    the last round that stayed within it.

    Attributes
    ----------
    spent
        epsilon after the rounds already run.
    next_epsilon
        epsilon the next round would have reached.
    target
        The budget.
    rounds
        Rounds already run: the count the message gives unless ``spent_in`` says otherwise.

    Parameters
    ----------
    spent_in
        What spent ``spent``, when rounds do not say it: a client's DP-SGD accountant
        merges its rounds, so local DP gives its steps (``"150 DP-SGD steps"``).
    """

    def __init__(
        self,
        spent: float,
        next_epsilon: float,
        target: float,
        rounds: int,
        *,
        spent_in: str | None = None,
    ) -> None:
        spent_in = spent_in if spent_in is not None else f"{rounds} rounds"
        super().__init__(
            f"privacy budget reached: {spent_in} spent epsilon = {epsilon_shown(spent)}; another "
            f"round would reach {epsilon_shown(next_epsilon)} > target_epsilon = {target:g}, "
            "so training stops here (raise target_epsilon or noise_multiplier to train longer)"
        )
        self.spent = spent
        self.next_epsilon = next_epsilon
        self.target = target
        self.rounds = rounds


_SPENT = re.compile(
    rf"(?:^|[(:] ?)raised {re.escape(PrivacyBudgetExhausted.__module__)}\."
    rf"{PrivacyBudgetExhausted.__qualname__}: "
)


def is_spent_budget(reason: str) -> bool:
    """Whether a client's failure reason says its own (local DP) privacy budget is spent.

    A pool reports a client's exception as one line, ``"raised <module>.<class>: message"``,
    in simulation and from a deployed party alike (a workflow may put its stage before it);
    a client that raised :class:`PrivacyBudgetExhausted` declined the round and can never
    train again in this run (its epsilon only grows). A party can claim this falsely; it is
    then left out of the run, as a party that leaves is, and the run stops cleanly only if
    the parties left are too few for a round (see :class:`~rengo.hfl.Coordinator`).

    Parameters
    ----------
    reason
        A failure reason as the round records it.

    Returns
    -------
    bool
        True if the client raised :class:`PrivacyBudgetExhausted`.
    """
    return _SPENT.search(reason) is not None
