"""What SplitNN's parties checkpoint after each epoch, and how they continue.

After every epoch each party keeps, in its own folder (:mod:`rengo.vfl.checkpoints`), its
networks' weights (the label party: bottom and top model; a feature party: its bottom
model) and its optimizer's state (Adam's step and moments) as arrays, the batch seed and,
the label party, the epoch losses and the state of the generator its gradient defence
draws noise from. Nothing of it ever crosses the network. Restored, a party continues with
the next epoch exactly as if it had never stopped: the batch order is
``batch_order(seed, epoch)``, the weights and the optimizer state are the very bytes it
had, and the noise generator resumes its stream, so a seeded run's final model equals an
uninterrupted run's. The coordinator has no part in split learning's training: it follows
the label party's epochs (:mod:`rengo.vfl.splitnn.coordinator`), keeps no checkpoints and
has no say in where a resume continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.vfl.checkpoints import EpochCheckpoints, EpochState, optimizer_arrays, resume_state
from rengo.vfl.party_model_file import layer_shapes
from rengo.vfl.splitnn.network import Weights


def _weights(arrays: dict[str, np.ndarray], prefix: str) -> Weights:
    """The arrays ``<prefix>.0``, ``<prefix>.1``, ... in order."""
    out: Weights = []
    while f"{prefix}.{len(out)}" in arrays:
        out.append(np.asarray(arrays[f"{prefix}.{len(out)}"], dtype=np.float32))
    return out


def _named(weights: Weights, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}.{k}": np.asarray(w) for k, w in enumerate(weights)}


@dataclass(frozen=True)
class SplitNNResume:
    """A party's state after ``epochs_run`` epochs: its networks' weights (``top`` and
    ``noise``, the label party's only), its optimizer's arrays, the batch seed, the losses."""

    epochs_run: int
    bottom: Weights
    top: Weights
    optimizer: dict[str, np.ndarray]
    seed: int
    losses: list[float] = field(default_factory=list)
    noise: dict[str, Any] | None = None
    hosts: tuple[str, ...] | None = None
    """The label party's order of the feature parties' embeddings in its top model's input
    (None: a checkpoint written before rengo kept it; see :func:`top_input_order`)."""
    validation_losses: list[float] = field(default_factory=list)
    """The label party's loss on the held-out rows after each epoch (validation share)."""
    stopped: bool = False
    """Training stopped early at ``epochs_run`` (a resumed run trains no further)."""


def _layer_shapes(widths: list[int] | None) -> list[tuple[int, ...]]:
    """The weight and bias shapes of an MLP of ``widths`` (none: no network)."""
    return [] if widths is None else layer_shapes(widths)


def start_party(
    checkpoints: EpochCheckpoints | None,
    who: str,
    bottom: list[int] | None,
    top: list[int] | None = None,
) -> SplitNNResume | None:
    """A party's state after the agreed epoch, or ``None`` (from the first epoch).

    ``bottom`` and ``top`` are the layer widths of its networks by its table and the
    settings (``None``: it has no such network).

    Raises
    ------
    DataError
        If the checkpoint is incomplete or its weights do not fit those widths (another
        table or other settings).
    """
    start = resume_state(checkpoints)
    if start is None:
        return None
    arrays, values = dict(start.arrays), start.values
    try:
        noise, hosts = values.get("noise"), values.get("hosts")
        if hosts is not None and not (
            isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)
        ):
            raise TypeError(f"its feature parties' order is {hosts!r}, not a list of names")
        resumed = SplitNNResume(
            start.epoch,
            _weights(arrays, "bottom"),
            _weights(arrays, "top"),
            {k: v for k, v in arrays.items() if k.startswith("optimizer.")},
            int(values["seed"]),
            [float(v) for v in values["losses"]],
            noise if isinstance(noise, dict) else None,
            None if hosts is None else tuple(hosts),
            [float(v) for v in values.get("validation_losses", [])],
            bool(values.get("stopped", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{who}'s checkpoint of epoch {start.epoch} is incomplete: {exc}") from exc
    for weights, widths in ((resumed.bottom, bottom), (resumed.top, top)):
        shapes = [tuple(w.shape) for w in weights]
        if shapes != _layer_shapes(widths):
            raise DataError(
                f"{who}'s checkpoint of epoch {start.epoch} holds layers {shapes}, its "
                f"table and settings give {_layer_shapes(widths)}: resume with the table "
                "and settings the run started with"
            )
    return resumed


def save_party(
    checkpoints: EpochCheckpoints | None,
    epochs_run: int,
    optimizer: Any,
    *,
    bottom: Weights | None,
    seed: int,
    top: Weights | None = None,
    losses: list[float] | None = None,
    noise: np.random.Generator | None = None,
    hosts: Sequence[str] | None = None,
    validation_losses: list[float] | None = None,
    stopped: bool = False,
) -> None:
    """Checkpoint a party after ``epochs_run`` epochs (nothing without checkpoints;
    ``hosts``: the label party's :func:`top_input_order`)."""
    if checkpoints is None:
        return
    arrays = {**_named(bottom or [], "bottom"), **_named(top or [], "top")}
    arrays.update(optimizer_arrays(optimizer))
    values: dict[str, Any] = {"seed": seed, "losses": list(losses or [])}
    if noise is not None:
        values["noise"] = noise.bit_generator.state
    if hosts is not None:
        values["hosts"] = list(hosts)
    if validation_losses:
        values["validation_losses"] = list(validation_losses)
    if stopped:
        values["stopped"] = True
    checkpoints.save(EpochState(epochs_run, arrays, values))


def top_input_order(resumed: SplitNNResume | None, given: Sequence[str]) -> list[str]:
    """The order the label party stacks the feature parties' embeddings in, its top model's
    input: name order, so the plan's order does not change the model; a resumed run keeps
    the order its checkpoint was trained in (the plan's, for a checkpoint written before
    rengo kept the order, as its code then stacked them).

    Raises
    ------
    DataError
        If the checkpoint names other feature parties than the plan.
    """
    if resumed is None:
        return sorted(given)
    if resumed.hosts is None:
        return list(given)
    if sorted(resumed.hosts) != sorted(given):
        raise DataError(
            f"the checkpoint was trained with feature parties {sorted(resumed.hosts)}, the "
            f"plan names {sorted(given)}: resume with the parties the run started with"
        )
    return list(resumed.hosts)


def restore_noise(generator: np.random.Generator, state: dict[str, Any] | None) -> None:
    """Continue ``generator``'s stream where the checkpoint left it.

    Raises
    ------
    DataError
        If the saved state is not one of this generator's kind.
    """
    if state is None:
        return
    try:
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(f"checkpoint holds a malformed noise generator state: {exc}") from exc
