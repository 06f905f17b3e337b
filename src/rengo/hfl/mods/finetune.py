"""FedAvg + local fine-tuning, evaluated per client: the simplest personalisation baseline.

Each client evaluates the global model *after* fine-tuning a copy of it on its own training
data for ``finetune_epochs`` (FedJAX's "FedAvg + fine-tuning"; Wang et al. 2019,
"Federated Evaluation of On-device Personalization"). The fine-tuned copy is discarded:
training rounds and the global model are FedAvg's, only what each client's accuracy
measures changes. The fine-tuning runs through the client's ordinary ``fit`` (with
``local_epochs`` set to ``finetune_epochs``, ``lr`` to ``finetune_lr`` when given, and a
seed derived from the round's so every executor fine-tunes alike).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from rengo.core.errors import ProtocolError
from rengo.core.messages import EvaluateIns, FitIns, FitResult
from rengo.hfl.local_training import LocalTraining
from rengo.hfl.mods.chain import (
    EVALUATE,
    EVALUATION_FIT_KEY,
    FIT,
    CallNext,
    ClientCall,
    ClientMod,
    register_mod,
)

EPOCHS_KEY = "finetune_epochs"
LR_KEY = "finetune_lr"
SEED_KEY = "finetune_seed"


@register_mod
class FineTuneMod(ClientMod):
    """Fine-tunes the received model on the client's data before evaluating it.

    Reads ``finetune_epochs`` (and optionally ``finetune_lr`` and ``finetune_seed``) from
    the evaluation config (sent by :class:`~rengo.hfl.FedAvgFineTune`). The fine-tuning fit
    carries ``config["evaluation_fit"] = True`` (:data:`~rengo.hfl.mods.chain.EVALUATION_FIT_KEY`),
    so mods inside this one take it as part of the evaluation.
    """

    name: ClassVar[str] = "finetune"

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Evaluate: fine-tune a copy first; anything else passes through."""
        if call.key != EVALUATE:
            return call_next(call)
        config = call.config
        epochs = config.get(EPOCHS_KEY, 1)
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ProtocolError(f"config[{EPOCHS_KEY!r}] must be an integer >= 0, got {epochs!r}")
        if epochs == 0:
            return call_next(call)
        # marked as part of the evaluation: SimulatedDropout(evaluate=False) must not take a
        # client out of its evaluation by dropping this fit
        settings: dict[str, Any] = {"local_epochs": epochs, EVALUATION_FIT_KEY: True}
        if LR_KEY in config:
            settings["lr"] = config[LR_KEY]
        if SEED_KEY in config:
            settings["seed"] = config[SEED_KEY]
        message = FitIns(list(call.parameters), {**config, **settings})
        # a copy of the state: fine-tuning must not change what the client keeps
        scratch = replace(
            call.forward(FIT, message), state=dict(call.state), local_training=LocalTraining()
        )
        tuned = call_next(scratch)
        if not isinstance(tuned, FitResult):
            raise ProtocolError(f"fine-tuning returned {type(tuned).__name__}")
        evaluation = EvaluateIns(list(tuned.parameters[: len(call.parameters)]), config)
        return call_next(call.forward(EVALUATE, evaluation))
