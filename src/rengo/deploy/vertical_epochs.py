"""A deployed vertical run's epochs in its record, each as it ends.

A simulated run records its epochs after training, with the label party's losses
(:func:`rengo.jobs.vertical.log_vertical_epochs`). A deployed coordinator records what it
knows, each epoch as it ends, as a round of the run: the epoch's own duration, the parties
that took part, and the training loss where the protocol tells it the loss (transfer
learning's source reports it; the hetero linear models' coordinator serves every batch and
hears only the label party's decision to go on, and split learning's and SecureBoost's
label party tells it only that an epoch or a tree ended, so their epochs carry no loss).
``rengo runs show`` and the dashboard follow a live run epoch by epoch (tree by tree).
Each epoch is written by :class:`rengo.jobs.live_epochs.LiveEpochs`, as in a simulated run:
a store busy past its wait does not stop training, and the epoch is written with the next
one the store takes (a store that cannot be written at all, its disk full or read-only, stops
the run, interrupted where it keeps checkpoints).
"""

from __future__ import annotations

from rengo.core.roles import COORDINATOR
from rengo.jobs.live_epochs import LiveEpochs
from rengo.tracking.store import RunStore
from rengo.vfl.progress import EpochClock, ProgressFn, VerticalProgress


class EpochRows:
    """A :data:`~rengo.vfl.progress.ProgressFn` that passes every event on to ``forward``
    and records each of the coordinator's training epochs in ``store`` once it has ended.

    Parameters
    ----------
    store, run_id
        Where the run is recorded.
    parties
        How many parties take part (each row's client count).
    forward
        The coordinator's display, or None.
    """

    def __init__(
        self, store: RunStore, run_id: str, parties: int, forward: ProgressFn | None
    ) -> None:
        self.epochs = LiveEpochs(store, run_id, parties)
        """Writes each epoch (its :attr:`~rengo.jobs.live_epochs.LiveEpochs.unrecorded`:
        those the store refused and has not taken since)."""
        self._clock = EpochClock(COORDINATOR, forward)

    def __call__(self, event: VerticalProgress) -> None:
        """Time ``event``, pass it on, and record the epoch it ends (the coordinator's
        end-of-epoch event, once the label party has decided whether training goes on)."""
        self._clock(event)
        if event.party != COORDINATOR or not event.ends_epoch or event.epoch is None:
            return
        self.epochs(event, self._clock.epoch_durations()[event.epoch])
