"""The seam between client mods and a client's own training loop.

Some algorithms act *inside* local training: FedProx pulls every step towards the global
model, SCAFFOLD shifts every gradient by a control variate, FedRep trains the head with the
body frozen, and a label-flipping or backdoor attacker changes the batches it trains on. A
mod cannot reach into a training loop, and an adapter should not know those algorithms. So
they meet here: before a ``fit`` call the mods install per-step gradient corrections, a set
of frozen parameters and batch transforms in a :class:`LocalTraining`; an adapter that trains
by gradient steps (:class:`~rengo.hfl.LogisticRegressionClient`,
:class:`~rengo.hfl.torch_client.TorchClient`, or a user's own) applies them at every step and
reports how many steps it took at which learning rate, which is what SCAFFOLD's control-variate
update needs afterwards, and, when asked, its loss at the model it received (q-FedAvg's weight).

Arrays are indexed as the model travels on the wire (``Parameters`` order, for torch the
``state_dict`` order, buffers included); an adapter only corrects arrays it trains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

TRAIN_THROUGH_THE_SEAM = (
    "apply self.local_training.correct(index, parameter, gradient) to each gradient (index: "
    "the array's place in the parameters) and call self.local_training.record_step(lr) after "
    "each step, as TorchClient and LogisticRegressionClient do"
)
"""How a client's own training loop takes part in the mods' local training (for messages)."""


class GradientCorrection(Protocol):
    """A term added to the local objective, as its effect on one gradient step.

    Called once per step for every trained parameter array; returns the corrected gradient
    as a new array and leaves its inputs untouched.
    """

    def __call__(self, index: int, parameter: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """The corrected gradient of parameter array ``index`` (``parameter`` is its value)."""
        ...


BatchTransform = Callable[[Any, Any], "tuple[Any, Any]"]
"""``(inputs, labels) -> (inputs, labels)`` for one training batch, in the adapter's own array
type (numpy arrays for the numpy client, tensors for torch): write it with operators and
indexing that both understand, and return new objects rather than editing the batch."""


@dataclass(frozen=True)
class ProximalTerm:
    """``(mu / 2) ||w - anchor||^2`` in the local objective: adds ``mu (w - anchor)`` to every
    gradient (FedProx's term, Li et al. 2020; Ditto's, Li et al. 2021)."""

    mu: float
    anchor: Sequence[np.ndarray]

    def __call__(self, index: int, parameter: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """``gradient + mu (parameter - anchor[index])``."""
        corrected: np.ndarray = gradient + self.mu * (parameter - self.anchor[index])
        return corrected


@dataclass
class LocalTraining:
    """What client mods ask of one ``fit`` call's local training, and what the client reports.

    Attributes
    ----------
    corrections
        Applied in order to every gradient step of every trained array.
    frozen
        Indices of parameter arrays the adapter must not change in this call.
    batch_transforms
        Applied in order to every training batch before the loss is computed.
    steps
        Optimiser steps taken (set by the adapter through :meth:`record_step`); 0 means the
        client does not train through this seam, and mods fall back to today's behaviour.
    learning_rate
        The step size of the last step (SCAFFOLD's control-variate update divides by it).
    measure_initial_loss
        Set by a mod (q-FedAvg's) that needs the client's loss on its training data at the
        parameters it received, before any step.
    initial_loss
        That loss, set by the adapter when ``measure_initial_loss`` is true (None: not
        measured).
    """

    corrections: list[GradientCorrection] = field(default_factory=list)
    frozen: set[int] = field(default_factory=set)
    batch_transforms: list[BatchTransform] = field(default_factory=list)
    steps: int = 0
    learning_rate: float | None = None
    measure_initial_loss: bool = False
    initial_loss: float | None = None

    def correct(self, index: int, parameter: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """``gradient`` after every installed correction, in installation order."""
        for correction in self.corrections:
            gradient = correction(index, parameter, gradient)
        return gradient

    def transform_batch(self, inputs: Any, labels: Any) -> tuple[Any, Any]:
        """The batch after every installed transform, in installation order."""
        for transform in self.batch_transforms:
            inputs, labels = transform(inputs, labels)
        return inputs, labels

    def record_step(self, learning_rate: float) -> None:
        """Count one optimiser step taken at ``learning_rate``."""
        self.steps += 1
        self.learning_rate = learning_rate
