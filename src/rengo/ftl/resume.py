"""What the transfer-learning roles checkpoint after each epoch, and how they continue.

After every epoch, in its own folder (:mod:`rengo.vfl.checkpoints`):

* each party keeps its encoder's ``state_dict`` arrays, its optimizer's state (Adam's
  step and moments) and the batch seed; the source also the epoch losses; the target its
  held-out scores per epoch; with early stopping each also the best epoch, its encoder as
  it was then, and whether training has stopped;
* the coordinator keeps the losses the source reported, the held-out scores the target
  reported and whether training has stopped.

Nothing of it crosses the network, and nothing is pickled: arrays in ``.npz`` and JSON.
Restored, a party continues with the next epoch exactly as if it had never stopped: the
batch order (and the target's labelled rows per batch) follow from the seed and the epoch,
the encoder and the optimizer hold the very bytes they had, and every exchanged component
is an exact fixed-point value whose one-time pads cancel, so the final encoders equal an
uninterrupted run's. No key material needs keeping: each batch's components are encrypted
afresh, so a restarted party may use a new key pair.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    validation: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best: list[np.ndarray] = field(default_factory=list)
    stopped: bool = False


@dataclass(frozen=True)
class CoordinatorResume:
    """The coordinator's record after ``len(losses)`` epochs."""

    losses: list[float] = field(default_factory=list)
    validation: list[dict[str, float]] = field(default_factory=list)
    stopped: bool = False


def _arrays(arrays: Mapping[str, Any], prefix: str) -> list[np.ndarray]:
    """``prefix.0``, ``prefix.1``, ... of a checkpoint's arrays, in order."""
    out: list[np.ndarray] = []
    while f"{prefix}.{len(out)}" in arrays:
        out.append(np.asarray(arrays[f"{prefix}.{len(out)}"]))
    return out


def _scores(values: Mapping[str, Any]) -> list[dict[str, float]]:
    """The held-out scores per epoch of a checkpoint (none in one without validation)."""
    return [{str(k): float(v) for k, v in epoch.items()} for epoch in values.get("validation", [])]


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
    try:
        return TransferResume(
            start.epoch,
            _arrays(arrays, "encoder"),
            {k: v for k, v in arrays.items() if k.startswith("optimizer.")},
            int(values["seed"]),
            [float(v) for v in values["losses"]],
            _scores(values),
            int(values.get("best_epoch", 0)),
            _arrays(arrays, "best"),
            bool(values.get("stopped", False)),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
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
    validation: list[dict[str, float]] | None = None,
    best_epoch: int = 0,
    best: list[np.ndarray] | None = None,
    stopped: bool = False,
) -> None:
    """Checkpoint a party after ``epochs_run`` epochs (nothing without checkpoints): its
    encoder and optimizer, the seed, the source's ``losses``, the target's held-out
    ``validation`` scores, and with early stopping the ``best`` epoch's encoder arrays and
    whether training has ``stopped``."""
    if checkpoints is None:
        return
    from rengo.ftl.encoders import parameter_arrays

    arrays = {f"encoder.{k}": a for k, a in enumerate(parameter_arrays(module))}
    arrays.update({f"best.{k}": a for k, a in enumerate(best or [])})
    arrays.update(optimizer_arrays(optimizer))
    values: dict[str, Any] = {
        "seed": seed,
        "losses": list(losses or []),
        "validation": list(validation or []),
        "best_epoch": best_epoch,
        "stopped": stopped,
    }
    checkpoints.save(EpochState(epochs_run, arrays, values))


def start_record(checkpoints: EpochCheckpoints | None) -> CoordinatorResume:
    """The coordinator's record of the epochs completed before (empty: from the start).

    Raises
    ------
    DataError
        If the checkpoint holds no losses, malformed ones, or not one per epoch.
    """
    start = resume_state(checkpoints)
    if start is None:
        return CoordinatorResume()
    values = start.values
    try:
        record = CoordinatorResume(
            [float(v) for v in values["losses"]],
            _scores(values),
            bool(values.get("stopped", False)),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"the coordinator's checkpoint of epoch {start.epoch}: {exc}") from exc
    if len(record.losses) != start.epoch:
        raise DataError(f"the coordinator's checkpoint of epoch {start.epoch} is inconsistent")
    return record


def save_record(checkpoints: EpochCheckpoints | None, record: CoordinatorResume) -> None:
    """Checkpoint the coordinator after ``len(record.losses)`` epochs."""
    if checkpoints is not None:
        values = {
            "losses": list(record.losses),
            "validation": list(record.validation),
            "stopped": record.stopped,
        }
        checkpoints.save(EpochState(len(record.losses), {}, values))
