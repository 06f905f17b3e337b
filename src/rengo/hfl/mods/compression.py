"""The client half of compression: decode the model that arrived compressed
(:class:`DecompressModelMod`) and encode the fit reply's update before it leaves
(:class:`CompressUpdateMod`).

Requested by :class:`~rengo.hfl.CompressedUpdates` (the settings travel in the round config,
``compression_*``) and run outermost, so it encodes what every other mod made of the reply
(a DP-clipped update, SCAFFOLD's control-variate change). Top-k's error-feedback residual is
client state (``call.state``), kept between rounds by whatever runs the client - a
simulation executor for a client rebuilt every round, a deployed party in its process - as
SCAFFOLD's control variate is; int8's stochastic rounding draws from the coordinator's
per-client seed (``config["coordinator_seed"]``, not a ``"seed"`` an ``on_fit_config`` may
give every client alike), so a run is reproducible from its seed, simulated or deployed, and
clients' rounding errors are independent.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rengo.core.errors import ProtocolError
from rengo.core.messages import EncodedUpdate, EvaluateIns, FitIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.model_compression import (
    MODEL_CONFIG_PREFIX,
    decode_model,
    model_codec_from_config,
)
from rengo.hfl.mods.chain import (
    EVALUATE,
    FIT,
    MODS_KEY,
    CallNext,
    ClientCall,
    ClientMod,
    mods_config_value,
    per_client_seed,
    register_mod,
    requested_mod_names,
)
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
        # the coordinator's seed: a user's one "seed" for all would round every client alike
        seed = per_client_seed(call.config)
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


@register_mod
class DecompressModelMod(ClientMod):
    """Decodes the global model of a fit or evaluate message that arrived compressed
    (``[compression] model``; see :mod:`rengo.hfl.model_compression`): the client and every
    inner mod see the decoded model, in the model's dtypes, and a config without the
    codec's entries.

    Requested before :class:`CompressUpdateMod`, so an update is taken against the model the
    client received, which the coordinator re-bases on its exact model.

    Raises
    ------
    ProtocolError
        If the message names no codec or an unknown one, or a part does not decode (a wrong
        count, dtype or shape, an int8 value of -128, a negative or non-finite scale, a
        non-finite value): the client's failure, with the reason, never the coordinator's.
    """

    name: ClassVar[str] = "decompress_model"

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """Decode the model, then run the rest of the chain on it."""
        message = call.message
        if call.key not in (FIT, EVALUATE) or not isinstance(message, (FitIns, EvaluateIns)):
            return call_next(call)
        model = received_model(message)
        for key in [k for k in message.config if k.startswith(MODEL_CONFIG_PREFIX)]:
            del message.config[key]
        return call_next(call.forward(call.key, type(message)(model, message.config)))


def decompressed_fit(message: FitIns) -> FitIns:
    """The fit as :class:`DecompressModelMod` hands it on: its model decoded, its config
    without the codec's entries and without ``decompress_model`` among the mods it requests
    (the decoding is done); ``message`` is left as it is. A mod that must know the model the
    client trains from before the chain runs (SecAgg+'s, whose masked update is taken
    against it) decodes it once this way.

    Raises
    ------
    ProtocolError
        As :class:`DecompressModelMod`.
    """
    model = received_model(message)
    config = {k: v for k, v in message.config.items() if not k.startswith(MODEL_CONFIG_PREFIX)}
    if MODS_KEY in config:
        rest = [n for n in requested_mod_names(config) if n != DecompressModelMod.name]
        if rest:
            config[MODS_KEY] = mods_config_value(rest)
        else:
            del config[MODS_KEY]
    return FitIns(model, config)


def received_model(message: FitIns | EvaluateIns) -> Parameters:
    """The model ``message`` carries compressed, decoded into the model's dtypes (what
    :class:`DecompressModelMod` hands the client); ``message`` is left as it is.

    Raises
    ------
    ProtocolError
        As :class:`DecompressModelMod`.
    """
    codec, chunk, dtypes = model_codec_from_config(message.config)
    try:
        return decode_model(message.parameters, codec, chunk, dtypes)
    except ValueError as exc:
        raise ProtocolError(
            f"the {codec} model from the coordinator does not decode: {exc}"
        ) from exc
