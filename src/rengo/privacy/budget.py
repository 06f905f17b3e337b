"""What happens when a privacy budget is spent: training stops before it is exceeded."""

from __future__ import annotations

from rengo.core.errors import StopTraining


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
    """

    def __init__(self, spent: float, next_epsilon: float, target: float, rounds: int) -> None:
        super().__init__(
            f"privacy budget reached: {rounds} rounds spent epsilon = {spent:.4g}; another "
            f"round would reach {next_epsilon:.4g} > target_epsilon = {target:g}, so training "
            "stops here (raise target_epsilon or noise_multiplier to train longer)"
        )
        self.spent = spent
        self.next_epsilon = next_epsilon
        self.target = target
        self.rounds = rounds
