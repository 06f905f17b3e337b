"""The coordinator's part in split learning's training: it follows the epochs.

Split learning needs no third party (:mod:`rengo.vfl.splitnn.roles`): embeddings and
gradients travel between the label party and each feature party. The coordinator only
organises the run; so that a deployed run's record and the dashboard follow it epoch by
epoch, the label party tells it when each epoch has ended and whether training stops
there (``splitnn/epoch=E/epoch_end``: the count of completed epochs and a flag, nothing
else), and it reports each as an epoch of the run. It keeps no checkpoints: told after the
parties had checkpointed an epoch, its count could lag theirs, so a resume continues after
the epoch the parties agree on and starts it there. It never hears a loss, an embedding or
a gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rengo.core.errors import ProtocolError
from rengo.transport.channel import Channel
from rengo.vfl.checkpoints import EpochCheckpoints, resume_state
from rengo.vfl.progress import ProgressFn, TrainingReporter
from rengo.vfl.splitnn.config import SplitNNConfig
from rengo.vfl.splitnn.roles import EPOCH_END, SCOPE


@dataclass(frozen=True)
class SplitNNReport:
    """What the coordinator knows of a split-learning training run.

    Attributes
    ----------
    epochs_run
        How many epochs every role completed.
    """

    epochs_run: int


def splitnn_coordinator(
    channel: Channel,
    label_party: str,
    config: SplitNNConfig,
    *,
    checkpoints: EpochCheckpoints | None = None,
    progress: ProgressFn | None = None,
) -> SplitNNReport:
    """Follow the label party's epochs until training ends.

    Parameters
    ----------
    channel
        The coordinator's channel.
    label_party
        The party that trains the top model and says when each epoch ended.
    config
        The training settings (the most epochs training takes).
    checkpoints
        A resumed run's start: the epoch the parties continue after (nothing is saved).
    progress
        Told when training starts and when each epoch ends (without a loss; see
        :mod:`rengo.vfl.progress`).

    Returns
    -------
    SplitNNReport
        The epochs completed.

    Raises
    ------
    ProtocolError
        If the label party's notice is malformed or out of order.
    """
    scope = channel.scope(SCOPE)
    start = resume_state(checkpoints)  # the epoch the parties continue after: no state
    epochs_run = 0 if start is None else start.epoch
    reporter = TrainingReporter(progress, channel.name, config.epochs, 1)
    reporter.begin(epochs_run)
    stopped = False
    while not stopped and epochs_run < config.epochs:
        notice = scope.scope(epoch=epochs_run).recv(label_party, EPOCH_END)
        if start is not None and epochs_run == start.epoch and _stopped_before(notice, epochs_run):
            break  # the run had stopped early at the epoch it resumes after: nothing to train
        stopped = _expect_epoch_end(notice, label_party, epochs_run + 1)
        epochs_run += 1
        reporter.epoch_end(epochs_run - 1, None, stop=stopped or epochs_run == config.epochs)
    return SplitNNReport(epochs_run)


def _stopped_before(value: Any, epochs_run: int) -> bool:
    """Whether ``value`` is a resumed label party's word that training had already stopped
    early after ``epochs_run`` epochs (:func:`~rengo.vfl.splitnn.roles.splitnn_label_party`
    sends it instead of training on)."""
    return value == {"epochs": epochs_run, "stopped": True} and isinstance(value.get("epochs"), int)


def _expect_epoch_end(value: Any, label_party: str, epoch: int) -> bool:
    """The label party's notice that ``epoch`` (1-based) ended: whether training stops."""
    epochs = value.get("epochs") if isinstance(value, dict) else None
    stopped = value.get("stopped") if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or set(value) != {"epochs", "stopped"}
        or not isinstance(epochs, int)
        or isinstance(epochs, bool)
        or not isinstance(stopped, bool)
    ):
        raise ProtocolError(f"{label_party} sent a malformed end-of-epoch notice")
    if epochs != epoch:
        raise ProtocolError(f"{label_party} says epoch {epochs} ended where epoch {epoch} did")
    return stopped
