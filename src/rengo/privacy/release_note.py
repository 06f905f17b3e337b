"""The privacy a round spent when its model reached clients before the round was recorded.

A central-DP round's epsilon joins the run's record with the round (its ``dp_epsilon``
metric). Federated evaluation shows the round's model to clients before that: a run stopped,
failed or killed in between released the model, but its record ended at the round before, so
it stated the epsilon of one release fewer (and kept stating it when the run was never
resumed). The coordinator therefore writes the spend down - synced to disk - the moment
before the model leaves it (:func:`release_intent`: whatever then kills the process, the
record holds it), and, when the run then stops or fails there, says so in a warning
(:func:`release_note`); :func:`read_release_note` gives either back to whoever reports the
run's epsilon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOTE = re.compile(
    r"^round (?P<round>\d+)'s model (?:was shown|is released) to clients \(federated "
    r"evaluation\) before the round (?:was|is) recorded: privacy spent epsilon "
    r"(?P<epsilon>\S+) at delta (?P<delta>\S+) \((?P<accounted>\d+) rounds accounted\)$"
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


def release_intent(spend: ReleasedSpend) -> str:
    """What the coordinator writes down before ``spend``'s model leaves it (read back by
    :func:`read_release_note`; a completed round's record replaces it).

    Parameters
    ----------
    spend
        The round about to be released, its epsilon and delta, and the rounds accounted.

    Returns
    -------
    str
        One line; the numbers in full precision.
    """
    return (
        f"round {spend.round}'s model is released to clients (federated evaluation) before the "
        f"round is recorded: privacy spent epsilon {spend.epsilon!r} at delta "
        f"{spend.delta!r} ({spend.accounted} rounds accounted)"
    )


def read_release_note(message: str) -> ReleasedSpend | None:
    """The spend an event message made by :func:`release_note` or :func:`release_intent`
    records, else None.

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
