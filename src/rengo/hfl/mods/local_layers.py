"""Personal layers as a mod: parameters that never leave the client.

FedPer (Arivazhagan et al. 2019, "Federated Learning with Personalization Layers") keeps the
model's head on each client; FedBN (Li et al. 2021, "FedBN: Federated Learning on Non-IID
Features via Local Batch Normalization") keeps the batch-norm layers. Both are this mod with
different indices, and they work under any strategy:

* before training or evaluating, the client's own values of those arrays replace the global
  ones it received (from its second round on; the first round starts from the global model);
* after training, the trained values are kept in the client's state, and the reply carries
  the global values it received for those arrays - so the coordinator learns nothing about
  them, and averaging leaves them where they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rengo.core.messages import EvaluateIns, FitIns, FitResult
from rengo.hfl.mods.chain import EVALUATE, FIT, CallNext, ClientCall

STATE_KEY = "local_layers"


@dataclass(frozen=True)
class LocalLayersMod:
    """Keeps the parameter arrays at ``indices`` on the client (FedPer heads, FedBN norms).

    Parameters
    ----------
    indices
        Positions in the model's parameter list (``state_dict`` order for torch models).

    Raises
    ------
    ValueError
        If ``indices`` is empty, negative or repeated.
    """

    indices: Sequence[int]
    name: ClassVar[str] = "local_layers"
    stages: ClassVar[frozenset[str]] = frozenset()
    _sorted: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        chosen = tuple(int(i) for i in self.indices)
        if not chosen or min(chosen) < 0 or len(set(chosen)) != len(chosen):
            raise ValueError(f"indices must be distinct non-negative ints, got {self.indices!r}")
        object.__setattr__(self, "_sorted", tuple(sorted(chosen)))

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Swap in the personal arrays, run the client, keep them and send the global ones."""
        if call.key not in (FIT, EVALUATE):
            return call_next(call)
        received = call.parameters
        if self._sorted[-1] >= len(received):
            raise ValueError(
                f"personal layer index {self._sorted[-1]} is out of range for a model of "
                f"{len(received)} arrays"
            )
        personal = call.state.get(STATE_KEY)
        if personal is not None:
            local = list(received)
            for i, value in zip(self._sorted, personal, strict=True):
                local[i] = np.asarray(value)
            message = call.message
            forwarded: FitIns | EvaluateIns = (
                FitIns(local, message.config)
                if isinstance(message, FitIns)
                else EvaluateIns(local, message.config)
            )
            call = call.forward(call.key, forwarded)
        reply = call_next(call)
        if call.key != FIT or not isinstance(reply, FitResult):
            return reply
        call.state[STATE_KEY] = [np.array(reply.parameters[i]) for i in self._sorted]
        shared = list(reply.parameters)
        for i in self._sorted:
            shared[i] = received[i]
        return FitResult(shared, reply.num_examples, reply.metrics)
