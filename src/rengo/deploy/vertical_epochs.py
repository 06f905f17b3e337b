"""A deployed vertical run's epochs in its record, each as it ends.

A simulated run records its epochs after training, with the label party's losses
(:func:`rengo.jobs.vertical.log_vertical_epochs`). A deployed coordinator records what it
knows, each epoch as it ends, as a round of the run: the epoch's own duration, the parties
that took part, and the training loss where the protocol tells it the loss (transfer
learning's source reports it; the hetero linear models' coordinator serves every batch and
hears only the label party's decision to go on, and split learning's and SecureBoost's
label party tells it only that an epoch or a tree ended, so their epochs carry no loss).
``rengo runs show`` and the dashboard follow a live run epoch by epoch (tree by tree).
"""

from __future__ import annotations

import contextlib

from rengo.core.roles import COORDINATOR
from rengo.tracking.errors import StoreClosedError
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
        self._store = store
        self._run_id = run_id
        self._parties = parties
        self._clock = EpochClock(COORDINATOR, forward)

    def __call__(self, event: VerticalProgress) -> None:
        """Time ``event``, pass it on, and record the epoch it ends (the coordinator's
        end-of-epoch event, once the label party has decided whether training goes on)."""
        self._clock(event)
        if event.party != COORDINATOR or not event.ends_epoch or event.epoch is None:
            return
        seconds = self._clock.epoch_durations()[event.epoch]
        metrics = {} if event.loss is None else {"train_loss": event.loss}
        if event.validation_loss is not None:
            metrics["validation_loss"] = event.validation_loss
        # the command may close the store as a failed run ends: nothing to record then
        with contextlib.suppress(StoreClosedError):
            self._store.log_round(self._run_id, event.epoch, metrics, seconds, self._parties, 0)
