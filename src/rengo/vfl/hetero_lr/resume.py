"""What a coordinated linear model's roles checkpoint after each epoch, and how they continue.

Each party keeps its weights, its optimizer state (step count, Adam's moments; Newton-CG:
its block of the last search direction and the last ``r^T z``), the epoch losses (the
guest), the batch seed and whether training stopped; the coordinator keeps how
many values it decrypted. Restored, a role continues with the next epoch exactly as if it
had never stopped: the batch order is ``batch_order(seed, epoch)`` and every gradient is an
exact fixed-point value, so the final weights equal an uninterrupted run's bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.checkpoints import EpochCheckpoints, EpochState, require_same_seed, resume_state
from rengo.vfl.hetero_lr.math import OptimizerState, init_optimizer
from rengo.vfl.hetero_lr.newton import CGState


@dataclass(frozen=True)
class LinearTraining:
    """A party's training state between two epochs.

    ``stopped`` says the last epoch's ``continue`` message ended training (early stopping
    or the last epoch); ``seed`` is the batch seed (``None`` before the guest chose it);
    ``cg`` is Newton-CG's memory (empty for first-order runs and before the first
    iteration), without which a resumed Newton-CG run would restart its conjugate
    directions and leave the uninterrupted run's path.
    """

    weights: np.ndarray
    optimizer: OptimizerState
    epochs_run: int = 0
    losses: list[float] = field(default_factory=list)
    converged: bool = False
    stopped: bool = False
    seed: int | None = None
    cg: CGState = field(default_factory=CGState)


def start_training(checkpoints: EpochCheckpoints | None, columns: int, who: str) -> LinearTraining:
    """A fresh state for ``columns`` weights, or the checkpoint's to continue from.

    Raises
    ------
    DataError
        If the checkpoint's weights do not fit ``columns`` (another table).
    """
    start = resume_state(checkpoints)
    if start is None:
        return LinearTraining(np.zeros(columns), init_optimizer(columns))
    arrays, values = start.arrays, start.values
    try:
        weights = np.asarray(arrays["weights"], dtype=np.float64)
        first = np.asarray(arrays["adam_first"], dtype=np.float64)
        second = np.asarray(arrays["adam_second"], dtype=np.float64)
        step = int(values["optimizer_step"])
        losses = [float(v) for v in values["losses"]]
        seed = values["seed"]
        direction = arrays.get("cg_direction")
        cg = CGState(
            None if direction is None else np.asarray(direction, dtype=np.float64),
            float(values.get("cg_rz", 0.0)),
        )
        training = LinearTraining(
            weights,
            OptimizerState(step, first, second),
            start.epoch,
            losses,
            bool(values["converged"]),
            bool(values["stopped"]),
            None if seed is None else int(seed),
            cg,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{who}'s checkpoint of epoch {start.epoch} is incomplete: {exc}") from exc
    shaped = (
        (weights, first, second) if cg.direction is None else (weights, first, second, cg.direction)
    )
    if any(a.shape != (columns,) for a in shaped):
        raise DataError(
            f"{who}'s checkpoint of epoch {start.epoch} holds {weights.shape[0]} weights, its "
            f"table gives {columns}: resume with the table the run started with"
        )
    return training


def save_epoch(
    checkpoints: EpochCheckpoints | None,
    weights: np.ndarray,
    optimizer: OptimizerState,
    epochs_run: int,
    *,
    stopped: bool,
    seed: int | None,
    losses: list[float] | None = None,
    converged: bool = False,
    cg: CGState | None = None,
) -> None:
    """Checkpoint a party's state after ``epochs_run`` completed epochs (nothing without
    checkpoints); ``cg``: Newton-CG's memory, kept when it holds a direction."""
    if checkpoints is None:
        return
    arrays = {"weights": weights, "adam_first": optimizer.first, "adam_second": optimizer.second}
    values: dict[str, Any] = {
        "optimizer_step": optimizer.step,
        "losses": list(losses or []),
        "converged": converged,
        "stopped": stopped,
        "seed": seed,
    }
    if cg is not None and cg.direction is not None:
        arrays["cg_direction"] = cg.direction
        values["cg_rz"] = cg.rz
    checkpoints.save(EpochState(epochs_run, arrays, values))


def check_seed(training: LinearTraining, seed: int, who: str) -> None:
    """A resumed host's batch seed must be the guest's: else the checkpoints are of two runs.

    Raises
    ------
    ProtocolError
        If they differ.
    """
    saved = training.seed if training.epochs_run else None
    require_same_seed(saved, seed, who, "the guest")


@dataclass(frozen=True)
class CoordinatorProgress:
    """The coordinator's state between two epochs."""

    epochs_run: int = 0
    decrypted: int = 0
    stopped: bool = False


def start_coordinator(checkpoints: EpochCheckpoints | None) -> CoordinatorProgress:
    """Fresh, or the checkpoint's state to continue from.

    Raises
    ------
    DataError
        If the checkpoint lacks the count of values decrypted or the stopped flag.
    """
    start = resume_state(checkpoints)
    if start is None:
        return CoordinatorProgress()
    try:
        return CoordinatorProgress(
            start.epoch, int(start.values["decrypted"]), bool(start.values["stopped"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"the coordinator's checkpoint of epoch {start.epoch}: {exc}") from exc


def save_coordinator(
    checkpoints: EpochCheckpoints | None, epochs_run: int, decrypted: int, stopped: bool
) -> None:
    """Checkpoint the coordinator's state after ``epochs_run`` completed epochs."""
    if checkpoints is not None:
        values = {"decrypted": decrypted, "stopped": stopped}
        checkpoints.save(EpochState(epochs_run, {}, values))
