"""A checkpointed vertical run that takes back a party whose link dropped.

A deployed vertical run cannot go on where it was once a party's link dropped: messages in
flight may be lost, so every role stops (:mod:`rengo.transport.grpc_party`). With
checkpoints every role can continue after the last epoch every role completed (the resume
of :mod:`rengo.vfl.checkpoints`), so instead of ending the run ``interrupted`` for its
operator to restart everybody with ``--resume RUN``, the coordinator waits up to its
``rejoin_grace`` for every party to come back and resumes the same run itself, and each
party reconnects on its own and joins it from its checkpoint folder.

Only a lost link is taken back this way: a party that left and did not come back within
the hub's ``rejoin_wait``, whose link dropped and came back (:class:`LinkDropped`), or
whose process was restarted. A party that failed on its own data or settings ends the run
``interrupted`` at once, as before. What crosses the wire on a rejoin is what a
``--resume`` sends: the plan, each party's last checkpointed epoch, the agreed epoch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from rengo.core.errors import (
    ChannelTimeout,
    CoordinatorUnreachable,
    LinkDropped,
    PeerFailure,
    StalePartyError,
)
from rengo.transport.grpc_hub import GrpcHub, lost_link

log = logging.getLogger("rengo.deploy")

REJOIN_GRACE_S = 60.0
"""Seconds a checkpointed deployed vertical run waits, once a party's link dropped, for
every party to come back before it is recorded ``interrupted`` (``rengo vfl coordinator
--rejoin-grace``); a party keeps reconnecting as long (``rengo vfl party --rejoin-grace``).
0: a dropped link interrupts the run at once (resume it with ``--resume RUN``)."""

MAX_REJOINS = 10
"""Most times one deployed vertical run takes its parties back (``rengo vfl coordinator
--max-rejoins``): a link that keeps dropping, or a party that drops it on purpose, then ends
the run ``interrupted`` as a dropped link did before rejoins, instead of resuming it for ever
(``--resume RUN`` continues it once the links hold)."""

_RESTARTED = "restarted mid-run"
"""How the hub's failure reason for a party whose process came back as a new one begins."""


def link_failure(failure: BaseException) -> bool:
    """Whether ``failure`` (what the coordinator's role raised) says a party's link or
    process was lost, rather than that a role failed on its data, settings or code.

    Parameters
    ----------
    failure
        The coordinator's error.

    Returns
    -------
    bool
        True for a :class:`PeerFailure` of a party that left, whose link dropped and came
        back (its abort names :class:`LinkDropped`) or whose process was restarted.
    """
    if not isinstance(failure, PeerFailure):
        return False
    reason = failure.reason
    return lost_link(reason) or reason == LinkDropped.__name__ or reason.startswith(_RESTARTED)


def wait_for_rejoin(
    hub: GrpcHub, parties: Sequence[str], grace: float, failure: PeerFailure
) -> None:
    """Wait up to ``grace`` seconds for every one of ``parties`` to join ``hub``.

    Raises
    ------
    PeerFailure
        Naming the parties that did not come back (and the failure that stopped the run),
        or the failure of a party that came back.
    """
    if hub.wait_for_parties(parties, None, grace):
        if hub.failure is not None:  # a party that rejoined failed before the plan went out
            raise hub.failure
        return
    missing = [name for name in parties if name not in hub.client_ids()]
    # the party whose link failed, when it is among them, is the one the record names
    who = failure.role if failure.role in missing else missing[0]
    reason = f"did not rejoin within {grace:g}s after the run stopped ({failure})"
    raise PeerFailure(who, reason, f"{', '.join(missing)} {reason}")


def _stopped(error: BaseException) -> str:
    """Why a party's role stopped, for its log line as it joins again (the errors' own
    messages tell the operator to start it again, which it does not need then)."""
    if isinstance(error, LinkDropped):
        return "its link to the coordinator dropped mid-run"
    if isinstance(error.__cause__, StalePartyError):
        return "its link came back to the coordinator's new hub of the run"
    return str(error)


def party_may_rejoin(error: BaseException) -> bool:
    """Whether a party's role, stopped by ``error``, may join the run again from its
    checkpoints: the coordinator resumes a run whose link failed (:func:`link_failure`), so
    a party waits for that when its own link dropped, or another party's did; not after a
    role failed on its data or settings, nor after the coordinator's goodbye.

    Parameters
    ----------
    error
        What the party's role raised.

    Returns
    -------
    bool
        True for a :class:`LinkDropped`, a :class:`PeerFailure` that :func:`link_failure`
        takes back, and a link that came back to the coordinator's new hub of the resumed
        run (:class:`StalePartyError`).
    """
    return (
        isinstance(error, LinkDropped)
        or link_failure(error)
        or isinstance(error.__cause__, StalePartyError)
    )


class RejoinClock:
    """A party's patience with a run that stopped: it keeps joining again until ``grace``
    seconds passed since the run first stopped, and starts afresh once an attempt returns.

    Parameters
    ----------
    name
        The party (for its log lines).
    grace
        Seconds it keeps trying (see :data:`REJOIN_GRACE_S`).
    """

    def __init__(self, name: str, grace: float) -> None:
        self.name = name
        self.grace = grace
        self.first: BaseException | None = None
        self._deadline = 0.0

    def joined(self) -> None:
        """The coordinator welcomed this party again: a later stop gets a grace of its own."""
        self.first = None

    def may_retry(self, error: BaseException) -> bool:
        """Whether to join again after ``error``; the first one starts the clock.

        Raises
        ------
        BaseException
            The error that first stopped the run, once the grace has passed (from the last).
        """
        if self.first is None:
            if self.grace <= 0 or not party_may_rejoin(error):
                return False
            self.first = error
            self._deadline = time.monotonic() + self.grace
            log.warning(
                "party %s: the run stopped (%s); joining it again from the checkpoints "
                "for up to %gs",
                self.name,
                _stopped(error),
                self.grace,
            )
            return True
        if time.monotonic() >= self._deadline:
            raise self.first from error
        # joining again: no coordinator yet (a new hub is starting), or it did not answer
        return party_may_rejoin(error) or isinstance(
            error, (ChannelTimeout, CoordinatorUnreachable)
        )

    def remaining(self, default: float) -> float:
        """Seconds the next connection may take: ``default`` before the run stopped, what
        is left of the grace after."""
        if self.first is None:
            return default
        return max(self._deadline - time.monotonic(), 0.1)
