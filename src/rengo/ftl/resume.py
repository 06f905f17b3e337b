"""What the transfer-learning roles checkpoint after each epoch, and how they continue.

After every epoch, in its own folder (:mod:`rengo.vfl.checkpoints`):

* each party keeps its encoder's ``state_dict`` arrays, its optimizer's state (Adam's
  step and moments) and the batch seed; the source also the epoch losses;
* the coordinator keeps the losses the source reported.

Nothing of it crosses the network, and nothing is pickled: arrays in ``.npz`` and JSON.
Restored, a party continues with the next epoch exactly as if it had never stopped: the
batch order (and the target's labelled rows per batch) follow from the seed and the epoch,
the encoder and the optimizer hold the very bytes they had, and every exchanged component
is an exact fixed-point value whose one-time pads cancel, so the final encoders equal an
uninterrupted run's. No key material needs keeping: each batch's components are encrypted
afresh, so a restarted party may use a new key pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.checkpoints import (
    EpochCheckpoints,
    EpochState,
    optimizer_arrays,
    restore_optimizer,
    resume_state,
)


@dataclass(frozen=True)
class TransferResume:
    """A party's state after ``epochs_run`` epochs."""

    epochs_run: int
    encoder: list[np.ndarray]
    optimizer: dict[str, np.ndarray]
    seed: int
    losses: list[float] = field(default_factory=list)


def start_party(checkpoints: EpochCheckpoints | None, who: str) -> TransferResume | None:
    """A party's state after the agreed epoch, or ``None`` (from the first epoch).

    Raises
    ------
    DataError
        If the checkpoint lacks the run's seed or the losses, or holds malformed ones.
    """
    start = resume_state(checkpoints)
    if start is None:
        return None
    arrays, values = start.arrays, start.values
    encoder: list[np.ndarray] = []
    while f"encoder.{len(encoder)}" in arrays:
        encoder.append(np.asarray(arrays[f"encoder.{len(encoder)}"]))
    try:
        return TransferResume(
            start.epoch,
            encoder,
            {k: v for k, v in arrays.items() if k.startswith("optimizer.")},
            int(values["seed"]),
            [float(v) for v in values["losses"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{who}'s checkpoint of epoch {start.epoch} is incomplete: {exc}") from exc


def restore_party(resumed: TransferResume, module: Any, optimizer: Any, who: str) -> None:
    """Load the checkpoint's encoder weights and optimizer state.

    Raises
    ------
    DataError
        If they do not fit the encoder (another table or other settings), naming the fix.
    """
    from rengo.ftl.encoders import load_parameter_arrays

    try:
        load_parameter_arrays(module, resumed.encoder)
        restore_optimizer(optimizer, resumed.optimizer)
    except DataError as exc:
        raise DataError(
            f"{who}'s checkpoint of epoch {resumed.epochs_run} does not fit its encoder "
            f"({exc}): resume with the table and settings the run started with"
        ) from exc


def save_party(
    checkpoints: EpochCheckpoints | None,
    epochs_run: int,
    module: Any,
    optimizer: Any,
    *,
    seed: int,
    losses: list[float] | None = None,
) -> None:
    """Checkpoint a party after ``epochs_run`` epochs (nothing without checkpoints)."""
    if checkpoints is None:
        return
    from rengo.ftl.encoders import parameter_arrays

    arrays = {f"encoder.{k}": a for k, a in enumerate(parameter_arrays(module))}
    arrays.update(optimizer_arrays(optimizer))
    values = {"seed": seed, "losses": list(losses or [])}
    checkpoints.save(EpochState(epochs_run, arrays, values))


def start_losses(checkpoints: EpochCheckpoints | None) -> list[float]:
    """The coordinator's losses of the epochs completed before (none: from the start).

    Raises
    ------
    DataError
        If the checkpoint holds no losses, malformed ones, or not one per epoch.
    """
    start = resume_state(checkpoints)
    if start is None:
        return []
    try:
        losses = [float(v) for v in start.values["losses"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"the coordinator's checkpoint of epoch {start.epoch}: {exc}") from exc
    if len(losses) != start.epoch:
        raise DataError(f"the coordinator's checkpoint of epoch {start.epoch} is inconsistent")
    return losses


def save_losses(checkpoints: EpochCheckpoints | None, losses: list[float]) -> None:
    """Checkpoint the coordinator after ``len(losses)`` epochs."""
    if checkpoints is not None:
        checkpoints.save(EpochState(len(losses), {}, {"losses": list(losses)}))
