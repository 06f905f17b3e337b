"""Which round checkpoints a run keeps: the newest few, and every K-th round if asked.

The round loop checkpoints the model and the strategy's state after every round so a crashed
coordinator can continue (``--resume RUN``). Resuming needs only the latest checkpoint;
keeping every round of a large model forever fills the disk (13 MB after three demos of a
5,000-parameter MLP; gigabytes for a ResNet). :class:`CheckpointRetention` says what stays:
by default only the latest, which is exactly what resume needs; ``keep_last`` keeps more
recent ones, ``every`` keeps each K-th round for good (e.g. to export round 50's model
later with ``rengo runs export RUN --round 50``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rengo.core.options import OptionError, check_options, option


@dataclass(frozen=True)
class CheckpointRetention:
    """Which checkpoints of a run are kept (the job file's ``[checkpoints]`` section).

    Parameters
    ----------
    keep_last
        The newest checkpoints kept (at least 1: resume needs the latest).
    every
        Also keep the checkpoint of every round divisible by this forever (0: none).

    Raises
    ------
    OptionError
        For ``keep_last < 1`` or ``every < 0``.
    """

    keep_last: int = option(1, "Newest round checkpoints kept (resume needs the latest).")
    every: int = option(0, "Also keep every K-th round's checkpoint for good (0: none).")

    def __post_init__(self) -> None:
        check_options(self)
        if self.keep_last < 1:
            raise OptionError("keep_last", f"must be >= 1, got {self.keep_last!r}")
        if self.every < 0:
            raise OptionError("every", f"must be >= 0, got {self.every!r}")

    def keeps(self, server_round: int, rounds: Iterable[int]) -> bool:
        """Whether the checkpoint of ``server_round`` stays, among stored ``rounds``."""
        if self.every and server_round % self.every == 0:
            return True
        newest = sorted(set(rounds), reverse=True)[: self.keep_last]
        return server_round in newest

    def rounds_to_drop(self, rounds: Iterable[int]) -> list[int]:
        """The stored ``rounds`` whose checkpoints should be deleted, ascending."""
        stored = sorted(set(rounds))
        return [r for r in stored if not self.keeps(r, stored)]
