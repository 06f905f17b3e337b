"""The privacy a round spent when its model reached clients before the round was recorded.

A central-DP round's epsilon joins the run's record with the round (its ``dp_epsilon``
metric). Federated evaluation shows the round's model to clients before that: a run stopped
or failed in between released the model, but its record ended at the round before, so it
stated the epsilon of one release fewer (and kept stating it when the run was never resumed).
The coordinator therefore notes the spend as a run event the moment before the release;
:func:`read_release_note` gives it back to whoever reports the run's epsilon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOTE = re.compile(
    r"^round (?P<round>\d+)'s model was shown to clients \(federated evaluation\) before the "
    r"round was recorded: privacy spent epsilon (?P<epsilon>\S+) at delta (?P<delta>\S+) "
    r"\((?P<accounted>\d+) rounds accounted\)$"
)


@dataclass(frozen=True)
class ReleasedSpend:
    """The spend a release noted: after ``accounted`` rounds, ``epsilon`` at ``delta``."""

    round: int
    epsilon: float
    delta: float
    accounted: int


def release_note(spend: ReleasedSpend) -> str:
    """The event message that records ``spend`` (read back by :func:`read_release_note`).

    Parameters
    ----------
    spend
        The round released, its epsilon and delta, and the rounds accounted.

    Returns
    -------
    str
        One line; the numbers in full precision.
    """
    return (
        f"round {spend.round}'s model was shown to clients (federated evaluation) before the "
        f"round was recorded: privacy spent epsilon {spend.epsilon!r} at delta "
        f"{spend.delta!r} ({spend.accounted} rounds accounted)"
    )


def read_release_note(message: str) -> ReleasedSpend | None:
    """The spend an event message made by :func:`release_note` records, else None.

    Parameters
    ----------
    message
        A run event's message.

    Returns
    -------
    ReleasedSpend or None
        The spend, or None for any other message (or one whose numbers do not parse).
    """
    match = _NOTE.match(message)
    if match is None:
        return None
    try:
        return ReleasedSpend(
            int(match["round"]),
            float(match["epsilon"]),
            float(match["delta"]),
            int(match["accounted"]),
        )
    except ValueError:
        return None
