"""Update clipping as a mod: the client half of DP-FedAvg.

McMahan, Ramage, Talwar, Zhang 2018, "Learning Differentially Private Recurrent Language
Models" (Algorithm 1, ``ClipFn``): each client scales its update ``delta = w_i - w`` to

    delta * min(1, S / ||delta||_2)

so no single client can move the average by more than a known bound ``S``; that bound is
the sensitivity Gaussian noise is calibrated to, and it also caps what a Byzantine client
can do with a scaled-up update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.core.messages import FitResult
from rengo.core.parameters import Parameters, sum_of_squares
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, register_mod

CLIP_KEY = "clip_norm"


def clip_update(
    model: Sequence[np.ndarray], reference: Sequence[np.ndarray], max_norm: float
) -> tuple[Parameters, float]:
    """``reference + (model - reference) * min(1, max_norm / ||model - reference||)``.

    Returns the clipped model (each array in its own dtype) and the update's norm before
    clipping. The norm is over all arrays together, in float64.
    """
    deltas = [
        np.asarray(m, np.float64) - np.asarray(r, np.float64)
        for m, r in zip(model, reference, strict=True)
    ]
    norm = float(np.sqrt(sum_of_squares(deltas)))
    if norm <= max_norm:
        return [np.asarray(m) for m in model], norm
    scale = max_norm / norm
    clipped = [
        np.asarray(np.asarray(r, np.float64) + d * scale).astype(np.asarray(m).dtype, copy=False)
        for m, r, d in zip(model, reference, deltas, strict=True)
    ]
    return clipped, norm


@register_mod
@dataclass(frozen=True)
class ClipUpdateMod:
    """Clips each fit reply's model update to L2 norm ``max_norm`` (McMahan et al. 2018).

    Parameters
    ----------
    max_norm
        The bound S. ``None`` reads it from the round config's ``clip_norm`` (how a
        coordinator-side DP strategy sets it for every client); then a fit without that key
        is a protocol error rather than a silently unclipped update.

    Raises
    ------
    ValueError
        If ``max_norm`` is not positive.
    """

    max_norm: float | None = None
    name: ClassVar[str] = "clip_update"
    stages: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        if self.max_norm is not None and not self.max_norm > 0:
            raise ValueError(f"max_norm must be > 0, got {self.max_norm}")

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Run the client, then clip the model part of its fit reply (extra arrays, such as
        SCAFFOLD's control-variate change, pass unchanged)."""
        reply = call_next(call)
        if call.key != FIT or not isinstance(reply, FitResult):
            return reply
        bound = self._bound(call)
        n = len(call.parameters)
        clipped, _norm = clip_update(reply.parameters[:n], call.parameters, bound)
        return FitResult([*clipped, *reply.parameters[n:]], reply.num_examples, reply.metrics)

    def _bound(self, call: ClientCall) -> float:
        if self.max_norm is not None:
            return self.max_norm
        value = call.config.get(CLIP_KEY)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ProtocolError(
                f"update clipping needs a positive config[{CLIP_KEY!r}] from the coordinator "
                f"(or ClipUpdateMod(max_norm=...)), got {value!r}"
            )
        return float(value)
