"""The client half of update compression: encode the fit reply's update before it leaves.

Requested by :class:`~rengo.hfl.CompressedUpdates` (the settings travel in the round config,
``compression_*``) and run outermost, so it encodes what every other mod made of the reply
(a DP-clipped update, SCAFFOLD's control-variate change). Top-k's error-feedback residual is
client state (``call.state``), kept between rounds by whatever runs the client - a
simulation executor for a client rebuilt every round, a deployed party in its process - as
SCAFFOLD's control variate is; int8's stochastic rounding draws from the round config's
per-client seed, so a run is reproducible from its seed, simulated or deployed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.core.messages import EncodedUpdate, FitResult
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, ClientMod, register_mod
from rengo.hfl.update_compression import (
    CONFIG_PREFIX,
    RESIDUAL_KEY,
    compression_from_config,
    encode_update,
    round_rng,
    update_of,
)


@register_mod
class CompressUpdateMod(ClientMod):
    """Encodes each fit reply as an :class:`~rengo.core.messages.EncodedUpdate` with the
    codec the round config names (float16, int8 with stochastic rounding, or top-k with
    error feedback; see :class:`~rengo.hfl.UpdateCompression`).

    Raises
    ------
    ProtocolError
        If a fit arrives without the compression settings or a per-client seed.
    ValueError
        If float16 cannot hold an update value (the client's failure, with the reason).
    """

    name: ClassVar[str] = "compress_update"

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Run the client, then encode its update."""
        if call.key != FIT:
            return call_next(call)
        settings = compression_from_config(call.config)
        seed = call.config.get("seed")
        for key in [k for k in call.config if k.startswith(CONFIG_PREFIX)]:
            del call.config[key]  # the client and inner mods see the config they know
        reply = call_next(call)
        if not isinstance(reply, FitResult) or not settings.enabled:
            return reply
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ProtocolError("update compression needs the round config's per-client seed")
        update = update_of(reply.parameters, call.parameters)
        kept = call.state.get(RESIDUAL_KEY)
        residual = [np.asarray(r, np.float64) for r in kept] if kept else None
        parts, left = encode_update(update, settings, round_rng(seed), residual)
        if left is not None:
            call.state[RESIDUAL_KEY] = left
        return EncodedUpdate(settings.update, parts, reply.num_examples, dict(reply.metrics))
