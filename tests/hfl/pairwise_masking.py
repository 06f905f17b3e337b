"""A toy two-stage round workflow for the tests: pairwise additive masks that cancel.

Not secure aggregation (no dropout recovery, no threshold sharing - that is SecAgg+, issue 13);
just enough protocol to prove the seam. Each sampled client i:

1. ``pairmask.advertise``: makes an X25519 key pair, keeps the secret in its persisted state
   and sends the public key. The coordinator learns the public keys.
2. ``pairmask.masked_fit``: receives its FitIns and every peer's public key, trains (the
   client mod calls the client through ``call_next``), scales its model by its example count,
   quantises it to int64 fixed point, and adds for each peer j the mask PRG(s_ij) if i < j
   and subtracts it if i > j (all mod 2^64, s_ij from X25519). The coordinator learns only
   masked vectors, whose sum is the sum of the scaled models: the masks cancel exactly.

The coordinator folds the masked vectors as they arrive (O(model) memory), unmasks the sum
and hands the strategy an accumulator holding that one block.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from rengo.core.errors import ClientFailure, RoundFailure
from rengo.core.messages import FitIns, FitResult
from rengo.core.parameters import flatten, unflatten
from rengo.hfl import CallNext, ClientCall, FitRound, WeightedSum, register_mod

ADVERTISE = "pairmask.advertise"
MASKED_FIT = "pairmask.masked_fit"
SECRET_KEY = "pairmask_secret"
SCALE = 2.0**24


def quantise(vector: np.ndarray) -> np.ndarray:
    """Fixed point in Z_{2^64}: round(v * 2^24) as int64, viewed as uint64."""
    return np.round(vector * SCALE).astype(np.int64).view(np.uint64)


def dequantise(values: np.ndarray) -> np.ndarray:
    return values.view(np.int64).astype(np.float64) / SCALE


def pair_mask(secret: X25519PrivateKey, peer: bytes, server_round: int, size: int) -> np.ndarray:
    shared = secret.exchange(X25519PublicKey.from_public_bytes(peer))
    seed = hashlib.sha256(shared + server_round.to_bytes(8, "little")).digest()
    generator = np.random.Generator(np.random.PCG64(int.from_bytes(seed, "little")))
    return generator.bit_generator.random_raw(size).astype(np.uint64)


@register_mod
class PairMaskMod:
    """The client half: owns both stage keys; trains through ``call_next`` in stage 2."""

    name: ClassVar[str] = "pairmask"
    stages: ClassVar[frozenset[str]] = frozenset({ADVERTISE, MASKED_FIT})

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        if call.key == ADVERTISE:
            secret = X25519PrivateKey.generate()
            call.state[SECRET_KEY] = secret.private_bytes(
                Encoding.Raw, PrivateFormat.Raw, NoEncryption()
            )
            return {"public_key": secret.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)}
        if call.key == MASKED_FIT:
            return self._masked_fit(call, call_next)
        return call_next(call)

    def _masked_fit(self, call: ClientCall, call_next: CallNext) -> dict[str, Any]:
        secret = X25519PrivateKey.from_private_bytes(call.state.pop(SECRET_KEY))
        fit_ins: FitIns = call.message["fit"]
        result = call_next(call.forward("fit", fit_ins))
        assert isinstance(result, FitResult)
        masked = quantise(flatten(result.parameters) * result.num_examples)
        server_round = int(fit_ins.config["server_round"])  # type: ignore[arg-type]
        with np.errstate(over="ignore"):
            for peer_id, public_key in call.message["peers"].items():
                if peer_id == call.client_id:
                    continue
                mask = pair_mask(secret, public_key, server_round, masked.size)
                masked = masked + mask if call.client_id < peer_id else masked - mask
        return {"masked": masked, "num_examples": result.num_examples}


@dataclass(frozen=True)
class PairMaskWorkflow:
    """The coordinator half: advertise, then masked fit, then unmask the sum."""

    def client_mods(self) -> tuple[str, ...]:
        return (PairMaskMod.name,)

    def run(self, fit_round: FitRound) -> WeightedSum:
        advertise = [(cid, {"round": fit_round.server_round}) for cid, _ in fit_round.instructions]
        peers = {
            cid: reply["public_key"]
            for cid, reply in fit_round.exchange(ADVERTISE, advertise, self._check_key)
        }
        messages = [
            (cid, {"fit": ins, "peers": peers})
            for cid, ins in fit_round.instructions
            if cid in peers
        ]
        size = sum(int(p.size) for p in fit_round.parameters)
        total = np.zeros(size, dtype=np.uint64)
        examples, reported = 0, set()
        with np.errstate(over="ignore"):
            for cid, reply in fit_round.exchange(MASKED_FIT, messages, self._check):
                total += reply["masked"]
                examples += int(reply["num_examples"])
                reported.add(cid)
        missing = sorted(set(peers) - reported)
        if missing:
            reasons = "; ".join(f"{c}: {fit_round.failures.get(c, 'no reply')}" for c in missing)
            raise RoundFailure(
                f"pairwise masks cannot cancel: {', '.join(missing)} dropped at stage "
                f"{MASKED_FIT!r} ({reasons})"
            )
        acc = fit_round.strategy.accumulator(fit_round.server_round, fit_round.parameters)
        acc.add_sum(
            unflatten(dequantise(total), fit_round.parameters), float(examples), len(reported)
        )
        return acc

    @staticmethod
    def _check_key(client_id: str, reply: Any) -> dict[str, Any]:
        key = reply.get("public_key") if isinstance(reply, dict) else None
        if not isinstance(key, bytes) or len(key) != 32:
            raise ClientFailure(client_id, "advertised no X25519 public key")
        return reply

    @staticmethod
    def _check(client_id: str, reply: Any) -> dict[str, Any]:
        if not isinstance(reply, dict) or not isinstance(reply.get("masked"), np.ndarray):
            raise ClientFailure(client_id, "sent no masked vector")
        if reply["masked"].dtype != np.uint64:
            raise ClientFailure(client_id, f"masked vector has dtype {reply['masked'].dtype}")
        return reply
