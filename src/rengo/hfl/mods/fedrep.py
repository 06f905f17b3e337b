"""FedRep's client half as a mod: Collins, Hassani, Mokhtari and Shakkottai 2021, "Exploiting
Shared Representations for Personalized Federated Learning" (ICML, Algorithm 1).

The model is a shared body (the representation) and a personal head that never leaves the
client. Each round a client first trains its head with the body frozen, for
``head_epochs``, then the body with the head frozen, for ``body_epochs``; it keeps the head
and returns the body (the coordinator averages bodies only: the head positions carry the
global values back, as in :class:`~rengo.hfl.mods.LocalLayersMod`). Evaluation uses the
client's own head. Because heads are personal, clients may even have different label sets
(give each its own head with ``initial``).

Both phases go through the client's ordinary ``fit`` with the frozen arrays of
:class:`~rengo.hfl.local_training.LocalTraining` and the round config's ``local_epochs``
set to the phase's epochs (read by :class:`~rengo.hfl.torch_client.TorchClient` and
:class:`~rengo.hfl.LogisticRegressionClient`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.core.messages import Config, FitIns, FitResult
from rengo.hfl.local_training import LocalTraining
from rengo.hfl.mods.chain import EVALUATE, FIT, CallNext, ClientCall, register_mod
from rengo.hfl.mods.local_layers import (
    STATE_KEY,
    InitialArrays,
    LocalLayersMod,
    personal_start,
)

HEAD_EPOCHS_KEY = "head_epochs"
BODY_EPOCHS_KEY = "body_epochs"
LOCAL_EPOCHS_KEY = "local_epochs"


def _epochs(config: Config, key: str, default: int | None) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"config[{key!r}] must be an integer >= 0, got {value!r}")
    return value


@register_mod
@dataclass(frozen=True)
class FedRepMod:
    """FedRep's alternating local training (Collins et al. 2021): head first, then body.

    Parameters
    ----------
    indices
        The head's positions in the parameter list (negative from the end); ``None``: the
        round config's ``personal_arrays``.
    head_epochs, body_epochs
        Local epochs of each phase; ``None``: the round config's ``head_epochs`` and
        ``body_epochs``.
    initial
        ``client_id -> arrays``: the client's own starting head.
    """

    indices: tuple[int, ...] | None = None
    head_epochs: int | None = None
    body_epochs: int | None = None
    initial: InitialArrays | None = field(default=None, repr=False)
    name: ClassVar[str] = "fedrep"
    stages: ClassVar[frozenset[str]] = frozenset()

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Train the head, then the body; keep the head, return the body."""
        layers = LocalLayersMod(self.indices, self.initial)
        if call.key == EVALUATE:
            return layers(call, call_next)
        if call.key != FIT:
            return call_next(call)
        received = call.parameters
        head = layers.positions(call)
        body = {i for i in range(len(received)) if i not in head}
        config = call.config
        head_epochs = _epochs(config, HEAD_EPOCHS_KEY, self.head_epochs)
        body_epochs = _epochs(config, BODY_EPOCHS_KEY, self.body_epochs)
        start = list(received)
        personal = personal_start(call, head, self.initial)
        if personal is not None:
            for i, value in zip(head, personal, strict=True):
                start[i] = value
        outer = call.local_training
        reply: Any = None
        for frozen, epochs in ((body, head_epochs), (set(head), body_epochs)):
            if epochs == 0:
                continue
            phase = LocalTraining(
                corrections=list(outer.corrections),
                frozen=set(outer.frozen) | frozen,
                batch_transforms=list(outer.batch_transforms),
            )
            message = FitIns(start, {**config, LOCAL_EPOCHS_KEY: epochs})
            reply = call_next(replace(call.forward(FIT, message), local_training=phase))
            if not isinstance(reply, FitResult):
                return reply
            start = [np.asarray(p) for p in reply.parameters[: len(received)]]
            outer.steps += phase.steps
            outer.learning_rate = phase.learning_rate or outer.learning_rate
        if reply is None:
            raise ProtocolError("FedRep needs head_epochs or body_epochs above 0")
        call.state[STATE_KEY] = [np.array(start[i]) for i in head]
        shared = list(start)
        for i in head:
            shared[i] = received[i]
        return FitResult(shared, reply.num_examples, reply.metrics)
