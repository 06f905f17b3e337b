"""How long an exchange waits for the parties that have not answered once most of them have.

A deployed party's heartbeat proves only that its process is alive. A party that takes its
round's request and never answers - a hung trainer, or a participant stalling on purpose -
would hold every later round of the federation with it when no round timeout is set, and a
round timeout long enough for the slowest honest round lets it stall each round that long.

:class:`StragglerWait` bounds the wait by the round's own pace instead: once ``quorum`` of an
exchange's parties have answered, the rest may take at most ``factor`` times as long as the
quorum took, and at least ``grace`` seconds more. One party cannot hold a round longer than
that while the others answer; it is timed out like a party past the round timeout (a miss
that counts toward marking it slow). NVFlare's scatter-and-gather has the same idea with a
fixed wait (``wait_time_after_min_received``); scaling it with the quorum's time keeps hour-long
rounds and second-long rounds both working without tuning.

The default ``factor`` is generous on purpose: an honest party holding ten times the median
party's rows trains about ten times as long, and a federation should not lose its largest
data holder to the rule meant for parties that stall. A party cut off ``slow_after`` rounds in
a row sits out ``slow_rounds`` rounds (see :class:`rengo.hfl.Coordinator`), so one that
stalls on purpose costs the others a bounded delay a few rounds at a time, never the run.

The rule judges a party's training time, not its link: the time its own request spent
reaching it and its reply has spent arriving is added to its wait (:meth:`StragglerWait.
transfer_allowance`), so a healthy party on a thin link (a 40 MB model over 1 Mbit/s takes
5 minutes each way) is not cut off for moving bytes slower than the others. That time counts
only at ``slowest_link`` bytes a second or faster: a party that reads its request or sends
its reply a byte at a time gains little by it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rengo.core.errors import ConfigError


@dataclass(frozen=True)
class StragglerWait:
    """How long an exchange waits for the parties that have not answered once most have.

    Once ``quorum`` of the exchange's parties answered, the rest are waited for until
    ``max(factor x t, t + grace)`` seconds from its start, where ``t`` is when the quorum was
    reached; then they are timed out.

    Parameters
    ----------
    quorum
        Share of the exchange's parties (rounded up, at least one) whose answers start the
        clock; only answers count, not failures, so parties that fail at once cannot shorten
        the others' wait.
    factor
        The stragglers' wait in all, as a multiple of the time the quorum took.
    grace
        Seconds the stragglers may take past the quorum's time, however fast it was.
    slowest_link
        Bytes a second: a party's own transfer time is added to its wait as long as its bytes
        move at least this fast (default 16 kB/s, 128 kbit/s).

    Raises
    ------
    ConfigError
        For ``quorum`` outside ``(0, 1]``, ``factor < 1``, ``grace < 0`` or
        ``slowest_link <= 0`` (or non-finite).
    """

    quorum: float = 0.5
    factor: float = 10.0
    grace: float = 60.0
    slowest_link: float = 16_000.0

    def __post_init__(self) -> None:
        if not 0 < self.quorum <= 1:
            raise ConfigError(f"StragglerWait.quorum must be in (0, 1], got {self.quorum!r}")
        if not (math.isfinite(self.factor) and self.factor >= 1):
            raise ConfigError(f"StragglerWait.factor must be >= 1, got {self.factor!r}")
        if not (math.isfinite(self.grace) and self.grace >= 0):
            raise ConfigError(f"StragglerWait.grace must be >= 0, got {self.grace!r}")
        if not (math.isfinite(self.slowest_link) and self.slowest_link > 0):
            raise ConfigError(
                f"StragglerWait.slowest_link must be > 0 bytes/s, got {self.slowest_link!r}"
            )

    def needed(self, parties: int) -> int:
        """How many of ``parties`` must answer before the stragglers' clock starts."""
        return max(1, math.ceil(self.quorum * parties - 1e-9))

    def deadline(self, answered: Sequence[float], parties: int) -> float | None:
        """Seconds from the exchange's start after which the parties that have not answered
        are cut off; ``None`` while fewer than the quorum answered (or with one party).

        Parameters
        ----------
        answered
            When each party that answered did, in seconds from the exchange's start.
        parties
            How many parties the exchange asked.
        """
        needed = self.needed(parties)
        if parties < 2 or len(answered) < needed:
            return None
        took = sorted(answered)[needed - 1]
        return max(self.factor * took, took + self.grace)

    def transfer_allowance(self, seconds: float, moved_bytes: int) -> float:
        """Seconds added to one party's wait for moving ``moved_bytes`` of its own exchange
        (its request reaching it, its reply arriving) in ``seconds``: that time, but at most
        what the bytes take at :attr:`slowest_link`."""
        return max(0.0, min(seconds, moved_bytes / self.slowest_link))

    def reason(self, answered: Sequence[float], parties: int, transfer: float = 0.0) -> str:
        """Why a straggler was cut off (starts with ``"timed out"``, as every pool's timeout
        does, so the round counts it as a miss); ``transfer``: its own transfer allowance."""
        needed = self.needed(parties)
        took = sorted(answered)[needed - 1]
        limit = self.deadline(answered, parties)
        assert limit is not None
        moving = f", plus {transfer:.1f}s moving its request and reply" if transfer >= 0.05 else ""
        return (
            f"timed out: no answer within {limit + transfer:.1f}s, while {len(answered)} of "
            f"{parties} parties answered (the first {needed} within {took:.2f}s; stragglers "
            f"wait {self.factor:g}x that, at least {self.grace:g}s more{moving})"
        )
