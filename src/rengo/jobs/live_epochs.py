"""A simulated vertical run's epochs in its record, each as it ends.

``rengo run`` of a vertical job records every epoch (tree) as a round of the run as soon as
the label party ends it, with its duration and the label party's running training loss, so
``rengo runs show`` and the dashboard follow the run as it trains, and a run that fails
part-way keeps the epochs it completed. Once training ends,
:func:`rengo.jobs.vertical.log_vertical_epochs` writes every epoch again with the losses the
model kept (logging a round again updates it). A deployed coordinator does the same from
what the protocol tells it (:mod:`rengo.deploy.vertical_epochs`).
"""

from __future__ import annotations

import contextlib

from rengo.tracking.errors import StoreClosedError
from rengo.tracking.store import RunStore
from rengo.vfl.progress import VerticalProgress


class LiveEpochs:
    """Records each epoch the label party ends as a round of ``run_id`` in ``store``.

    Parameters
    ----------
    store, run_id
        Where the run is recorded.
    parties
        How many parties take part (each round's client count).
    """

    def __init__(self, store: RunStore, run_id: str, parties: int) -> None:
        self._store = store
        self._run_id = run_id
        self._parties = parties

    def __call__(self, event: VerticalProgress, seconds: float) -> None:
        """Record the epoch ``event`` ends (its ``epoch``, 1-based), which took ``seconds``,
        with its training and held-out losses where the event has them."""
        if event.epoch is None:
            return
        metrics = {} if event.loss is None else {"train_loss": float(event.loss)}
        if event.validation_loss is not None:
            metrics["validation_loss"] = float(event.validation_loss)
        # the command may close the store as a failed run ends: nothing to record then
        with contextlib.suppress(StoreClosedError):
            self._store.log_round(self._run_id, event.epoch, metrics, seconds, self._parties, 0)
