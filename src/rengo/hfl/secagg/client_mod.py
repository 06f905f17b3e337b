"""The client half of SecAgg+ (Bell et al. CCS 2020): a client mod that owns the four stages.

Between stages the mod keeps its secrets in the client's persisted state (``call.state``
under ``"secagg"``), so the same code runs in simulation (serial or process executor) and
deployed. What the client learns: its neighbours' public keys and its shares of their
secrets. What it reveals: public keys, sealed shares (only the addressee can open them), one
masked vector, and in the last stage either the masking-key share or the self-mask share of
each neighbour - never both for the same neighbour (checked here, so a coordinator cannot
ask for both and unmask one client). Each stage runs once a round, and secrets are forgotten
as soon as no later stage needs them: the sealing secret after sharing keys, the masking
secret, self-mask seed and pair keys after the masked input.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from rengo.core.errors import ProtocolError
from rengo.core.messages import FitIns, FitResult
from rengo.crypto.pairwise import agree, new_key_pair, open_sealed, seal
from rengo.crypto.prg import SEED_BYTES, add_masks
from rengo.crypto.quantisation import CHUNK_VALUES, Quantisation, quantise_into
from rengo.crypto.shamir import Share, split_secret
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, ClientMod, ModChain, register_mod
from rengo.hfl.mods.dp_clip import UNCLIPPED_METRIC
from rengo.hfl.secagg.protocol import (
    ADVERTISE,
    EXTRA,
    MASKED_INPUT,
    MODE_DP,
    SHARE_KEYS,
    STAGES,
    UNMASK,
    WEIGHT_SCALE,
    mask_sign,
    pair_context,
    ring_mask,
    share_context,
    share_digest,
    wire_dtype,
)

STATE_KEY = "secagg"


@register_mod
class SecAggMod(ClientMod):
    """Answers ``secagg.*`` stages; trains (through ``call_next``) in the masked-input stage.

    Raises
    ------
    ProtocolError
        For a stage out of order or repeated in a round, a sealed share that fails
        authentication (naming its sender), an example count above ``max_examples``, or an
        unmasking request that asks for both secrets of one neighbour or comes with fewer
        survivors than the threshold.
    """

    name: ClassVar[str] = "secagg"
    stages: ClassVar[frozenset[str]] = frozenset(STAGES)
    _chain: ModChain | None = None

    @property
    def _requested(self) -> ModChain:
        if self._chain is None:
            self._chain = ModChain()
        return self._chain

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """The reply to one stage message (other keys pass through)."""
        if call.key == ADVERTISE:
            return self._advertise(call)
        if call.key == SHARE_KEYS:
            return self._share_keys(call)
        if call.key == MASKED_INPUT:
            return self._masked_input(call, call_next)
        if call.key == UNMASK:
            return self._unmask(call)
        return call_next(call)

    # -- stage 0: advertise keys ------------------------------------------------------------
    def _advertise(self, call: ClientCall) -> dict[str, bytes]:
        message = call.message
        encryption, masking = new_key_pair(), new_key_pair()
        call.state[STATE_KEY] = {
            "round": int(message["round"]),
            "threshold": int(message["threshold"]),
            "points": dict(message["points"]),
            "neighbours": list(message["neighbours"]),
            "c_sk": encryption.secret,
            "s_sk": masking.secret,
        }
        return {"c_pk": encryption.public, "s_pk": masking.public}

    # -- stage 1: share keys ----------------------------------------------------------------
    def _share_keys(self, call: ClientCall) -> dict[str, Any]:
        state = self._state(call, SHARE_KEYS)
        if "c_sk" not in state:
            raise ProtocolError(
                "keys were already shared this round: a second sharing of the masking key "
                "would let the coordinator collect shares of it twice"
            )
        keys: Mapping[str, Mapping[str, bytes]] = call.message["keys"]
        holders = sorted(v for v in keys if v in state["neighbours"])
        threshold = state["threshold"]
        if len(holders) < threshold:
            raise ProtocolError(
                f"only {len(holders)} neighbours advertised keys, {threshold} needed to share"
            )
        seed = os.urandom(SEED_BYTES)
        points = [int(state["points"][v]) for v in holders]
        key_shares = split_secret(state["s_sk"], threshold, points)
        seed_shares = split_secret(seed, threshold, points)
        r, u = state["round"], call.client_id
        sealing_key = X25519PrivateKey.from_private_bytes(state["c_sk"])  # loaded once
        sealed: dict[str, bytes] = {}
        digests: dict[str, list[bytes]] = {}
        enc_keys: dict[str, bytes] = {}
        for v, key_share, seed_share in zip(holders, key_shares, seed_shares, strict=True):
            k, b = key_share.to_bytes(), seed_share.to_bytes()
            enc_keys[v] = agree(sealing_key, keys[v]["c_pk"], pair_context("enc", r, u, v))
            sealed[v] = seal(enc_keys[v], k + b, share_context(r, u, v))
            digests[v] = [share_digest(r, u, v, "key", k), share_digest(r, u, v, "seed", b)]
        state["seed"] = seed
        state["s_pk"] = {v: keys[v]["s_pk"] for v in holders}
        # The pair's sealing key is symmetric: the same key opens v's shares for u in the next
        # stage, so it is kept instead of agreed again, and the sealing secret c_sk, which
        # nothing else needs, is forgotten (with the graph, so the persisted state is small).
        state["enc"] = enc_keys
        for done in ("c_sk", "points", "neighbours"):
            state.pop(done)
        return {"sealed": sealed, "digests": digests}

    # -- stage 2: masked input collection ---------------------------------------------------
    def _masked_input(self, call: ClientCall, call_next: CallNext) -> dict[str, Any]:
        state = self._state(call, MASKED_INPUT)
        if "s_pk" not in state:
            raise ProtocolError(
                "refusing a second masked input this round: two inputs under the same masks "
                "would reveal their difference"
            )
        message = call.message
        r, u = state["round"], call.client_id
        held: dict[str, list[bytes]] = {}
        for v, sealed in dict(message["sealed"]).items():
            if v not in state["s_pk"]:
                raise ProtocolError(f"shares from {v!r}, who is not a neighbour that shared keys")
            try:
                plain = open_sealed(state["enc"][v], sealed, share_context(r, v, u))
            except ValueError as exc:
                raise ProtocolError(f"the shares from {v!r} fail authentication") from exc
            if len(plain) != 140:
                raise ProtocolError(f"the shares from {v!r} have the wrong length")
            Share.from_bytes(plain[:70]), Share.from_bytes(plain[70:])  # well-formed
            held[v] = [plain[:70], plain[70:]]
        state["held"] = held

        fit_ins: FitIns = message["fit"]
        # The fit carries the mods the strategy requested (dp_clip, fedprox...): a stage
        # message does not, so they run here, inside this mod and around the installed ones.
        result = self._requested.run(call.forward(FIT, fit_ins), call_next)
        if not isinstance(result, FitResult):
            raise ProtocolError(f"training returned {type(result).__name__}, not FitResult")
        bits = int(message["ring_bits"])
        dtype = wire_dtype(bits)
        masked = self._input_vector(message, fit_ins, result, dtype)  # entries below 2^bits
        masking_key = X25519PrivateKey.from_private_bytes(state["s_sk"])
        seeds = [(state["seed"], 1)] + [
            (
                agree(masking_key, state["s_pk"][v], pair_context("mask", r, u, v)),
                mask_sign(u, v),
            )
            for v in sorted(held)
        ]
        add_masks(masked, seeds)
        masked &= dtype.type(ring_mask(bits))
        # Only the held shares are needed to unmask: forget the masking secrets now, so a
        # client compromised after sending its input has no seed or key left to reveal.
        for done in ("s_sk", "seed", "enc", "s_pk"):
            state.pop(done)
        return {"masked": masked}

    @staticmethod
    def _input_vector(
        message: Mapping[str, Any],
        fit_ins: FitIns,
        result: FitResult,
        dtype: np.dtype[np.unsignedinteger],
    ) -> np.ndarray:
        """``[m q(d) | m | clipped | unclipped | weight]`` in the wire dtype (see the protocol
        module): the update is computed and quantised chunk by chunk straight into the vector
        (:func:`_quantise_update`), with no whole-model temporaries."""
        quantisation = Quantisation(float(message["clip_range"]), int(message["quantisation_bits"]))
        if message["mode"] == MODE_DP:
            if message["weighting"] == "bounded":
                weight = min(1.0, result.num_examples / float(message["weight_cap"]))
            else:
                weight = 1.0
            multiplier = 1
            bit = result.metrics.get(UNCLIPPED_METRIC)
            unclipped = 1 if isinstance(bit, (int, float)) and float(bit) >= 0.5 else 0
            fixed_weight = round(weight * WEIGHT_SCALE)
        else:
            weight = 1.0
            multiplier = int(result.num_examples)
            if not 1 <= multiplier <= int(message["max_examples"]):
                raise ProtocolError(
                    f"{multiplier} training examples is outside 1..{message['max_examples']} "
                    "(secagg max_examples): raise it in the coordinator's [privacy] section"
                )
            unclipped, fixed_weight = 0, 0
        # the ring holds max_examples * (levels - 1): m * q(d) does not wrap
        vector, clipped = _quantise_update(
            fit_ins.parameters, result.parameters, weight, quantisation, multiplier, dtype
        )
        vector[-EXTRA:] = [multiplier, clipped, unclipped, fixed_weight]
        return vector

    # -- stage 3: unmasking -----------------------------------------------------------------
    def _unmask(self, call: ClientCall) -> dict[str, Any]:
        state = self._state(call, UNMASK)
        call.state.pop(STATE_KEY)
        held: dict[str, list[bytes]] = state.get("held", {})
        dropped, survivors = list(call.message["dropped"]), list(call.message["survivors"])
        both = sorted(set(dropped) & set(survivors))
        if both:
            raise ProtocolError(
                f"refusing to unmask: asked for both secrets of {', '.join(both)} (would reveal "
                "their input)"
            )
        if int(call.message["survivor_count"]) < state["threshold"]:
            raise ProtocolError(
                f"refusing to unmask: {call.message['survivor_count']} clients survived, below "
                f"the threshold {state['threshold']}"
            )
        unknown = sorted(v for v in (*dropped, *survivors) if v not in held and v != call.client_id)
        if unknown:
            raise ProtocolError(f"asked for shares of {', '.join(unknown)}, which it does not hold")
        return {
            "key_shares": {v: held[v][0] for v in dropped},
            "seed_shares": {v: held[v][1] for v in survivors if v != call.client_id},
        }

    @staticmethod
    def _state(call: ClientCall, stage: str) -> dict[str, Any]:
        state = call.state.get(STATE_KEY)
        if not isinstance(state, dict):
            raise ProtocolError(f"secure aggregation stage {stage!r} before {ADVERTISE!r}")
        if int(call.message.get("round", state["round"])) != state["round"]:
            raise ProtocolError(f"stage {stage!r} for another round than this client advertised")
        return state


def _quantise_update(
    reference: Sequence[np.ndarray],
    trained: Sequence[np.ndarray],
    weight: float,
    quantisation: Quantisation,
    multiplier: int,
    dtype: np.dtype[np.unsignedinteger],
) -> tuple[np.ndarray, int]:
    """``multiplier * q(weight * (flatten(trained) - flatten(reference)))`` in a new vector of
    ``dtype`` with ``EXTRA`` free entries at the end, and how many coordinates were clipped.

    The difference is taken in float64 (as if both were converted first) chunk by chunk
    into one small scratch buffer and quantised from there into the vector, so the update
    never exists as a whole-model array.

    Raises
    ------
    ProtocolError
        If training returned another number of arrays or an array of another size.
    """
    if len(trained) != len(reference):
        raise ProtocolError(
            f"training returned {len(trained)} arrays for a {len(reference)}-array model; "
            "secure aggregation sums models only"
        )
    sizes = [int(np.size(p)) for p in reference]
    for i, (new, size) in enumerate(zip(trained, sizes, strict=True)):
        if int(np.size(new)) != size:
            raise ProtocolError(
                f"training returned array {i} with {np.size(new)} values, the model's has {size}"
            )
    vector = np.empty(sum(sizes) + EXTRA, dtype=dtype)
    scratch = np.empty(min(CHUNK_VALUES, max(sizes, default=0)), dtype=np.float64)
    clipped, offset = 0, 0
    for ref, new, size in zip(reference, trained, sizes, strict=True):
        ref_flat, new_flat = np.asarray(ref).ravel(), np.asarray(new).ravel()
        for start in range(0, size, CHUNK_VALUES):
            stop = min(size, start + CHUNK_VALUES)
            update = scratch[: stop - start]
            np.subtract(new_flat[start:stop], ref_flat[start:stop], out=update, dtype=np.float64)
            if weight != 1.0:
                update *= weight
            clipped += quantise_into(
                update, quantisation, vector[offset + start : offset + stop], multiplier
            )
        offset += size
    return vector, clipped
