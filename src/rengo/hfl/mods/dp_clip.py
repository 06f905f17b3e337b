"""Client-side clipping for DP-FedAvg: what a client does when the coordinator must not see
its update (secure aggregation) but the noise still needs a bounded sensitivity.

The client clips its update to the round's ``dp_clip_norm`` (sent by
:class:`~rengo.hfl.DifferentialPrivacy` with ``clip_at = "client"``) and reports one bit for
adaptive clipping (Andrew et al. 2021): ``dp_unclipped = 1`` when its update's norm was
within the bound. Under secure aggregation both travel inside the masked sum; in the clear the
coordinator re-clips every update it sees, so a client that skips this mod cannot break the
guarantee.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.core.messages import FitResult
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, ClientMod, register_mod
from rengo.privacy import clip_by_l2_norm

DP_CLIP_KEY = "dp_clip_norm"
UNCLIPPED_METRIC = "dp_unclipped"


@register_mod
class DPClipMod(ClientMod):
    """Clips the fit reply's model update to ``config['dp_clip_norm']`` and reports whether it
    was already within it (metric ``dp_unclipped``, 1.0 or 0.0).

    Raises
    ------
    ProtocolError
        If a fit arrives without a positive ``dp_clip_norm`` (never a silently unclipped
        update).
    """

    name: ClassVar[str] = "dp_clip"

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Run the client, then clip its update and add the unclipped bit."""
        reply = call_next(call)
        if call.key != FIT or not isinstance(reply, FitResult):
            return reply
        bound = call.config.get(DP_CLIP_KEY)
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not bound > 0:
            raise ProtocolError(
                f"client-side DP clipping needs a positive config[{DP_CLIP_KEY!r}] from the "
                f"coordinator, got {bound!r}"
            )
        reference = call.parameters
        n = len(reference)
        deltas = [
            np.asarray(m, np.float64) - np.asarray(r, np.float64)
            for m, r in zip(reply.parameters[:n], reference, strict=True)
        ]
        clipped, norm = clip_by_l2_norm(deltas, float(bound))
        model = [
            np.asarray(np.asarray(r, np.float64) + d).astype(np.asarray(m).dtype, copy=False)
            for m, r, d in zip(reply.parameters[:n], reference, clipped, strict=True)
        ]
        metrics = dict(reply.metrics)
        metrics[UNCLIPPED_METRIC] = 1.0 if norm <= float(bound) else 0.0
        return FitResult([*model, *reply.parameters[n:]], reply.num_examples, metrics)
