"""A vertical run's epochs in its record, each as it ends.

``rengo run`` of a vertical job records every epoch (tree) as a round of the run as soon as
the label party ends it, with its duration and the label party's running training loss, so
``rengo runs show`` and the dashboard follow the run as it trains, and a run that fails
part-way keeps the epochs it completed. Once training ends,
:func:`rengo.jobs.vertical.log_vertical_epochs` writes every epoch again with the losses the
model kept (logging a round again updates it). A deployed coordinator records its epochs
with the same :class:`LiveEpochs`, from what the protocol tells it
(:mod:`rengo.deploy.vertical_epochs`).

A store busy while training goes on (another process holds its lock past the wait:
:class:`~rengo.tracking.errors.StoreBusyError`) does not stop training: the epoch is kept and
written with the next epoch that is recorded, or by :meth:`LiveEpochs.write_pending`;
:attr:`LiveEpochs.unrecorded` names the epochs not written yet. A store that cannot be
written at all (its disk full, read-only: :class:`~rengo.tracking.errors.StoreUnwritableError`)
stops the run as before: it will not be written again by waiting, and a run that keeps
checkpoints is left interrupted, to be resumed once it can.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rengo.tracking.errors import StoreBusyError, StoreClosedError, StoreWriteRefused
from rengo.tracking.store import RunStore
from rengo.vfl.progress import VerticalProgress


def epoch_metrics(event: VerticalProgress) -> dict[str, float]:
    """The metrics of the epoch ``event`` ends: its running training loss and its held-out
    loss, each where the event has it."""
    metrics = {} if event.loss is None else {"train_loss": float(event.loss)}
    if event.validation_loss is not None:
        metrics["validation_loss"] = float(event.validation_loss)
    return metrics


class LiveEpochs:
    """Records each epoch a run's driving party ends as a round of ``run_id`` in ``store``.

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
        self._pending: dict[int, tuple[dict[str, float], float]] = {}
        self.refusal: StoreWriteRefused | None = None
        """The store's latest refusal of an epoch not written since (None: every epoch
        seen is written)."""

    @property
    def unrecorded(self) -> list[int]:
        """The epochs (1-based) seen but not written yet: the store refused them."""
        return sorted(self._pending)

    def __call__(self, event: VerticalProgress, seconds: float) -> None:
        """Record the epoch ``event`` ends (its ``epoch``, 1-based), which took ``seconds``,
        with its training and held-out losses where the event has them, after any epoch the
        store refused before; an epoch the store refuses now is kept for the next write."""
        if event.epoch is None:
            return
        self._pending[event.epoch] = (epoch_metrics(event), seconds)
        self.write_pending()

    def write_pending(self, *, last_try: bool = False) -> bool:
        """Write the epochs the store has not taken yet, oldest first, stopping at the first
        it refuses (kept, with :attr:`refusal`, for a later try).

        Parameters
        ----------
        last_try
            The run is ending (its own error, if any, is being raised): a store that cannot
            be written at all is kept as the refusal too, not raised over that error.

        Returns
        -------
        bool
            True when every epoch seen is written (or the store is closed: the command
            closed it as a failed run ended, and there is nothing to record then).
        """
        for epoch in sorted(self._pending):
            metrics, seconds = self._pending[epoch]
            try:
                self._store.log_round(self._run_id, epoch, metrics, seconds, self._parties, 0)
            except StoreClosedError:
                self._pending.clear()
                break
            except StoreBusyError as exc:  # training goes on; the epoch waits
                self.refusal = exc
                return False
            except StoreWriteRefused as exc:
                if not last_try:
                    raise  # unwritable: the run stops (interrupted where it keeps checkpoints)
                self.refusal = exc
                return False
            del self._pending[epoch]
        self.refusal = None
        return True

    def rewritten(self) -> None:
        """Forget the epochs not written yet: the run's final record
        (:func:`rengo.jobs.vertical.log_vertical_epochs`) has written every epoch since, so
        none is missing and none may be overwritten with its live values later."""
        self._pending.clear()
        self.refusal = None

    def unrecorded_line(self) -> str:
        """A line naming the epochs not written and why (empty when every one is)."""
        if not self._pending:
            return ""
        epochs = ", ".join(str(epoch) for epoch in self.unrecorded)
        return (
            f"epochs {epochs} of run {self._run_id} were not recorded: the run store "
            f"refused them ({self.refusal})"
        )


@contextmanager
def epochs_named_on_failure(live: LiveEpochs | None, log: Callable[[str], None]) -> Iterator[None]:
    """Run a vertical run's body (training, scoring, the final record); if it fails, the
    epochs the store refused while it trained are tried once more and any it still refuses
    are named through ``log``, so a failed run keeps the epochs it ended or says which it
    could not keep.

    Parameters
    ----------
    live
        The run's epoch recorder (None: the run is not recorded).
    log
        Where the line naming unrecorded epochs goes.
    """
    try:
        yield
    except BaseException:
        if live is not None and not live.write_pending(last_try=True):
            log(live.unrecorded_line())
        raise
