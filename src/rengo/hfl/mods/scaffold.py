"""SCAFFOLD's client half as a mod: Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled
Averaging for Federated Learning" (Algorithm 1, option II).

The coordinator sends its control variate ``c`` in the round config (``scaffold_c``); the
client keeps its own ``c_i`` in its persisted state. Every local step's gradient is corrected
by ``c - c_i``; after K steps of size lr the client sets

    c_i+ = c_i - c + (x - y) / (K lr)

and returns its model ``y`` followed by ``delta c_i = c_i+ - c_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rengo.core.messages import Config, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.local_training import TRAIN_THROUGH_THE_SEAM
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, ClientMod, register_mod

CONTROL_KEY = "scaffold_c"
STATE_KEY = "scaffold_c_i"


@dataclass
class ScaffoldCorrection:
    """The server control variate ``c`` and this client's ``c_i`` for one round; as a
    :class:`~rengo.hfl.local_training.GradientCorrection` it adds ``c - c_i`` to a gradient."""

    c: list[np.ndarray]
    c_i: list[np.ndarray]

    @classmethod
    def from_config(
        cls, config: Config, state: dict[str, Any], like: Sequence[np.ndarray]
    ) -> ScaffoldCorrection | None:
        """``None`` unless the strategy sent a control variate (i.e. it is SCAFFOLD)."""
        c = config.get(CONTROL_KEY)
        if c is None:
            return None
        c_list = [np.asarray(a, dtype=np.float64) for a in c]  # type: ignore[union-attr]
        stored = state.get(STATE_KEY)
        c_i = (
            [np.asarray(a, dtype=np.float64) for a in stored]
            if stored
            else [np.zeros(p.shape, dtype=np.float64) for p in like]
        )
        return cls(c_list, c_i)

    def __call__(self, index: int, parameter: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """``gradient + c - c_i`` for parameter array ``index``."""
        corrected: np.ndarray = gradient + self.c[index] - self.c_i[index]
        return corrected

    def correct(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``g + c - c_i`` for each array."""
        return [g + c - ci for g, c, ci in zip(grads, self.c, self.c_i, strict=True)]

    def update(
        self,
        x: Sequence[np.ndarray],
        y: Sequence[np.ndarray],
        steps: int,
        lr: float,
        state: dict[str, Any],
    ) -> Parameters:
        """Store ``c_i+`` in ``state`` and return ``delta c_i`` (float32) to send."""
        scale = 1.0 / (max(steps, 1) * lr)
        new_ci = [
            ci - c + (np.asarray(xx, np.float64) - np.asarray(yy, np.float64)) * scale
            for ci, c, xx, yy in zip(self.c_i, self.c, x, y, strict=True)
        ]
        # np.asarray: arithmetic on 0-d arrays (e.g. BatchNorm counters) yields numpy scalars.
        delta = [np.asarray(n - o, np.float32) for n, o in zip(new_ci, self.c_i, strict=True)]
        state[STATE_KEY] = [np.asarray(a, np.float32) for a in new_ci]
        return delta


@register_mod
class ScaffoldMod(ClientMod):
    """SCAFFOLD's client half (Karimireddy et al. 2020): corrects every local step by
    ``c - c_i``, then appends ``delta c_i`` to the reply and keeps ``c_i+`` in the state.

    Acts only on fit calls whose config carries ``scaffold_c``. A client that does not train
    through :class:`~rengo.hfl.local_training.LocalTraining` (it reports no steps) gets its
    reply passed through unchanged: it still sees ``scaffold_c`` and may run SCAFFOLD itself.
    One that did neither (no steps, and only the model in its reply) is an error saying so.
    """

    name: ClassVar[str] = "scaffold"

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Correct local training by the control variates and report ``delta c_i``."""
        if call.key != FIT:
            return call_next(call)
        global_model = call.parameters
        control = ScaffoldCorrection.from_config(call.config, call.state, global_model)
        if control is None:
            return call_next(call)
        call.local_training.corrections.append(control)
        result = call_next(call)
        training = call.local_training
        if not isinstance(result, FitResult):
            return result
        if training.steps == 0:
            if len(result.parameters) == len(global_model):  # neither half of SCAFFOLD ran
                raise ValueError(
                    "SCAFFOLD: the client took no local step through rengo.hfl.LocalTraining "
                    "and returned only the model, so there is no control-variate change to "
                    f"send: {TRAIN_THROUGH_THE_SEAM}; or run SCAFFOLD in the client and "
                    "return the model followed by its control-variate change"
                )
            return result
        if training.learning_rate is None or training.learning_rate <= 0:
            raise ValueError("SCAFFOLD needs the client to report a positive learning rate")
        model = result.parameters[: len(global_model)]
        delta = control.update(
            global_model, model, training.steps, training.learning_rate, call.state
        )
        return FitResult([*result.parameters, *delta], result.num_examples, result.metrics)
