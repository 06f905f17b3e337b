"""Ditto's client half as a mod: Li, Hu, Beirami and Smith 2021, "Ditto: Fair and Robust
Federated Learning Through Personalization" (ICML, Algorithm 1).

Each client keeps a personal model ``v_k`` beside the global one. In a round it trains the
global model as usual (the reply), and its personal model on

    F_k(v) + (lambda / 2) ||v - w^t||^2

for ``personal_epochs``, where ``w^t`` is the global model it received: the proximal pull
of :class:`~rengo.hfl.local_training.ProximalTerm`, installed for that training only. ``v_k``
stays in the client's state and never leaves it; evaluation uses it (a client that has not
trained yet is evaluated on the global model). ``lambda`` trades personal fit (0: local
training only) against the global model (large: FedAvg).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.core.messages import EvaluateIns, FitIns, FitResult
from rengo.hfl.local_training import LocalTraining, ProximalTerm
from rengo.hfl.mods.chain import EVALUATE, FIT, CallNext, ClientCall, ClientMod, register_mod

LAMBDA_KEY = "ditto_lambda"
EPOCHS_KEY = "personal_epochs"
STATE_KEY = "ditto_personal"


@register_mod
class DittoMod(ClientMod):
    """Trains and evaluates a personal model beside the global one (Li et al. 2021).

    Reads ``ditto_lambda`` and ``personal_epochs`` from the round config (sent by
    :class:`~rengo.hfl.Ditto`).
    """

    name: ClassVar[str] = "ditto"

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Fit: global update (the reply), then the personal update; evaluate: personal."""
        if call.key == EVALUATE:
            personal = call.state.get(STATE_KEY)
            if personal is None:
                return call_next(call)
            evaluation = EvaluateIns([np.asarray(p) for p in personal], call.config)
            return call_next(call.forward(EVALUATE, evaluation))
        if call.key != FIT:
            return call_next(call)
        received = [np.asarray(p) for p in call.parameters]
        lam, epochs = _settings(call)
        reply = call_next(call)
        if not isinstance(reply, FitResult) or epochs == 0:
            return reply
        stored = call.state.get(STATE_KEY)
        start = received if stored is None else [np.asarray(p) for p in stored]
        anchor = [np.asarray(p, dtype=np.float64) for p in received]
        personal = LocalTraining(corrections=[ProximalTerm(lam, anchor)] if lam > 0 else [])
        message = FitIns(start, {**call.config, "local_epochs": epochs})
        trained = call_next(replace(call.forward(FIT, message), local_training=personal))
        if not isinstance(trained, FitResult):
            raise ProtocolError(f"Ditto's personal update returned {type(trained).__name__}")
        call.state[STATE_KEY] = [np.array(p) for p in trained.parameters[: len(received)]]
        return reply


def _settings(call: ClientCall) -> tuple[float, int]:
    lam = call.config.get(LAMBDA_KEY)
    epochs = call.config.get(EPOCHS_KEY, 1)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or lam < 0:
        raise ProtocolError(f"config[{LAMBDA_KEY!r}] must be a number >= 0, got {lam!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ProtocolError(f"config[{EPOCHS_KEY!r}] must be an integer >= 0, got {epochs!r}")
    return float(lam), epochs
