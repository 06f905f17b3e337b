"""The client half of SecAgg+ (Bell et al. CCS 2020): a client mod that owns its stages.

Between stages the mod keeps its secrets in the client's persisted state (``call.state``
under ``"secagg"``), so the same code runs in simulation (serial or process executor) and
deployed. What the client learns: its neighbours' public keys and its shares of their
secrets. What it reveals: public keys, sealed shares (only the addressee can open them), one
masked vector, and in the last stage either the masking-key share or the self-mask share of
each neighbour - never both for the same neighbour (checked here, so a coordinator cannot
ask for both and unmask one client). Each stage runs once a round, and secrets are forgotten
as soon as no later stage needs them: the sealing secret once the shares are delivered, the
masking secret, self-mask seed and pair keys after the masked input. In an unsigned round a
client dealt shares it cannot use complains instead of training and, asked once the
coordinator has abandoned that start, reveals its sealing secret so the coordinator can tell
who is at fault (see :meth:`SecAggMod._deliver`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from rengo.core.errors import ProtocolError
from rengo.core.messages import FitIns, FitResult
from rengo.core.parameters import difference_blocks, sum_of_squares
from rengo.crypto.pairwise import agree, new_key_pair, seal
from rengo.crypto.prg import SEED_BYTES, add_masks
from rengo.crypto.quantisation import CHUNK_VALUES, Quantisation, quantise_into
from rengo.crypto.shamir import split_secret
from rengo.crypto.signatures import SignatureError, SigningIdentity
from rengo.hfl.model_compression import MODEL_CONFIG_PREFIX
from rengo.hfl.mods.chain import FIT, CallNext, ClientCall, ClientMod, register_mod
from rengo.hfl.mods.compression import decompressed_fit
from rengo.hfl.mods.dp_clip import UNCLIPPED_METRIC
from rengo.hfl.secagg.protocol import (
    ADVERTISE,
    CLOCK_FIX,
    CONSISTENCY,
    DELIVER,
    EXTRA,
    FRESHNESS_S,
    MASKED_INPUT,
    MODE_DP,
    MODE_EXAMPLES,
    REVEAL,
    SHARE_KEYS,
    STAGES,
    UNMASK,
    WEIGHT_SCALE,
    clock_gap,
    consistency_quorum,
    dealt_digests,
    is_fresh,
    keys_statement,
    mask_sign,
    neighbour_graph,
    now_s,
    open_dealt_shares,
    pair_context,
    ring_mask,
    roster_digest,
    seed_commitment,
    share_context,
    survivors_statement,
    wire_dtype,
)

STATE_KEY = "secagg"
KEY_NAMES = ("c_pk", "s_pk")


@register_mod
class SecAggMod(ClientMod):
    """Answers ``secagg.*`` stages; trains (through ``call_next``) in the masked-input stage.

    Requested by name, it runs unsigned rounds only. Installed with the client's signing
    identity (its federation certificate and key), it also runs signed rounds
    (``SecAgg(signed=True)``), the malicious-coordinator variant of Bonawitz et al. (CCS
    2017, Section 6) on Bell et al.'s graph: it signs its keys and checks its neighbours'
    signatures before sealing shares for them, checks that its neighbours are the round's
    public graph and that the degree and threshold meet its pins, sends no masked input
    under fewer than ``t`` pairwise masks, signs the survivor set it is told, and before
    unmasking checks that a quorum of the round's clients signed that same set. So all
    honest clients act on one survivor set, and the coordinator learns no honest client's
    input while it colludes with fewer than ``2t - k`` clients in total
    (``docs/secure-aggregation.md``).

    Parameters
    ----------
    identities
        The signing identity of the client this mod serves, or one per client id (a
        simulation serves many clients with one mod); see
        :class:`~rengo.crypto.signatures.SigningIdentity`.
    require_signed
        Refuse unsigned rounds, so a coordinator cannot downgrade this client to the
        semi-honest protocol. Default: on when ``identities`` are given.
    min_neighbours, min_threshold
        In signed rounds, refuse a graph degree ``k`` below ``min_neighbours`` or a
        threshold below ``floor(min_threshold * k) + 1``: the round's degree and threshold
        come from the coordinator, and the collusion this client survives is fewer than
        ``2t - k`` parties, so a party pins what it needs (``min_threshold=0.67`` survives
        about ``k / 3``).

    Raises
    ------
    ProtocolError
        For a stage out of order or repeated in a round, fewer dealt shares than the
        threshold, an example count above ``max_examples``, or an
        unmasking request that asks for both secrets of one neighbour or comes with fewer
        survivors than the threshold; in signed rounds, for keys not signed by their owner,
        neighbours other than the public graph's, a degree or threshold below its pins, a
        second survivor set, or fewer than a quorum of signatures on the one it signed.
    """

    name: ClassVar[str] = "secagg"
    stages: ClassVar[frozenset[str]] = frozenset(STAGES)
    _identities: Mapping[str, SigningIdentity] = {}
    _require_signed: bool = False
    _min_neighbours: int = 2
    _min_threshold: float = 0.5
    _epoch_floor: int = 0

    def __init__(
        self,
        identities: SigningIdentity | Mapping[str, SigningIdentity] | None = None,
        *,
        require_signed: bool | None = None,
        min_neighbours: int = 2,
        min_threshold: float = 0.5,
    ) -> None:
        if isinstance(identities, SigningIdentity):
            identities = {identities.name: identities}
        self._identities = dict(identities or {})
        for client_id, identity in self._identities.items():
            if identity.name != client_id:
                raise ValueError(f"the identity for {client_id!r} is {identity.name!r}'s")
        self._require_signed = bool(self._identities) if require_signed is None else require_signed
        if self._require_signed and not self._identities:
            raise ValueError("require_signed needs the client's signing identity")
        if min_neighbours < 2 or not 0.5 <= min_threshold < 1.0:
            raise ValueError("min_neighbours must be >= 2 and min_threshold in [0.5, 1)")
        self._min_neighbours, self._min_threshold = min_neighbours, min_threshold
        # A client that restarts forgets the epochs it started; it starts none from before
        # it was made (give or take a clock difference), so a coordinator cannot end the run,
        # wait for a supervisor to restart the party and start the same round again.
        self._epoch_floor = (now_s() - RESTART_SKEW_S) * 1000

    def __call__(self, call: ClientCall, call_next: CallNext) -> Any:
        """The reply to one stage message (other keys pass through)."""
        if call.key == MASKED_INPUT:
            return self._masked_input(call, call_next)  # checks its message before training
        stage = {
            ADVERTISE: self._advertise,
            SHARE_KEYS: self._share_keys,
            DELIVER: self._deliver,
            REVEAL: self._reveal,
            CONSISTENCY: self._consistency,
            UNMASK: self._unmask,
        }.get(call.key)
        if stage is None:
            return call_next(call)
        with _well_formed(call.key):
            return stage(call)

    # -- stage 0: advertise keys ------------------------------------------------------------
    def _advertise(self, call: ClientCall) -> dict[str, Any]:
        message = call.message
        signed = bool(message.get("signed", False))
        if self._require_signed and not signed:
            raise ProtocolError(
                "refusing an unsigned secure aggregation round: this client signs its rounds "
                "(the coordinator sets secagg signed = true)"
            )
        encryption, masking = new_key_pair(), new_key_pair()
        state: dict[str, Any] = {
            "round": int(message["round"]),
            "threshold": int(message["threshold"]),
            "points": dict(message["points"]),
            "neighbours": list(message["neighbours"]),
            "c_sk": encryption.secret,
            "s_sk": masking.secret,
        }
        reply: dict[str, Any] = {"c_pk": encryption.public, "s_pk": masking.public}
        if signed:
            identity = self._identity(call.client_id)
            state.update(
                _public_graph(
                    call.client_id, message, state, self._min_neighbours, self._min_threshold
                )
            )
            state["since"] = signed_at = now_s()
            _take_epoch(call.state, state["epoch"], signed_at, self._epoch_floor)
            statement = keys_statement(
                state["roster"], call.client_id, signed_at, encryption.public, masking.public
            )
            reply |= {
                "signature": identity.sign(statement),
                "certificate": identity.cert_pem,
                "signed_at": signed_at,
            }
        call.state[STATE_KEY] = state
        return reply

    def _identity(self, client_id: str) -> SigningIdentity:
        identity = self._identities.get(client_id)
        if identity is None:
            raise ProtocolError(
                f"the coordinator asks for a signed secure aggregation round and client "
                f"{client_id!r} has no signing identity: install SecAggMod(identity) with its "
                "federation certificate (deployed parties with mTLS certificates do)"
            )
        return identity

    # -- stage 1: share keys ----------------------------------------------------------------
    def _share_keys(self, call: ClientCall) -> dict[str, Any]:
        state = self._state(call, SHARE_KEYS)
        if "enc" in state:
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
        if state.get("signed"):
            identity = self._identity(u)
            for v in holders:
                self._check_keys_signed(identity, state, v, keys[v])
        sealing_key = X25519PrivateKey.from_private_bytes(state["c_sk"])  # loaded once
        sealed: dict[str, bytes] = {}
        digests: dict[str, bytes] = {}
        enc_keys: dict[str, bytes] = {}
        for v, key_share, seed_share in zip(holders, key_shares, seed_shares, strict=True):
            k, b = key_share.to_bytes(), seed_share.to_bytes()
            try:
                enc_keys[v] = agree(sealing_key, keys[v]["c_pk"], pair_context("enc", r, u, v))
            except ValueError as exc:
                raise ProtocolError(f"client {v!r}'s sealing key is unusable ({exc})") from None
            sealed[v] = seal(enc_keys[v], k + b, share_context(r, u, v))
            digests[v] = dealt_digests(r, u, v, k, b)
        state["seed"] = seed
        state["s_pk"] = {v: keys[v]["s_pk"] for v in holders}
        # The pair's sealing key is symmetric: the same key opens v's shares for u in the next
        # stage, so it is kept instead of agreed again; the sealing secret c_sk is kept until
        # then only for a complaint. The graph is forgotten (the persisted state stays small).
        state["enc"] = enc_keys
        for done in ("points", "neighbours"):
            state.pop(done)
        commitment = seed_commitment(r, u, seed)
        return {"sealed": sealed, "digests": digests, "seed_commitment": commitment}

    @staticmethod
    def _check_keys_signed(
        identity: SigningIdentity, state: Mapping[str, Any], owner: str, keys: Mapping[str, Any]
    ) -> None:
        """Refuse keys relayed as ``owner``'s that ``owner`` did not sign for this round and
        roster, recently: with a key of its own in their place, the coordinator could open
        the shares sealed for ``owner`` and rebuild this client's secrets; with ``owner`` told
        another roster, the two would disagree on the graph; with old keys replayed, it
        might know their masking key."""
        signed_at = keys.get("signed_at")
        if not is_fresh(signed_at, state["since"], now_s()):
            raise ProtocolError(
                f"refusing the round: the keys relayed for client {owner!r} are dated "
                f"{signed_at!r}, not within {FRESHNESS_S} s of this round (a replay of old "
                f"keys, or clocks that disagree: {CLOCK_FIX})"
            )
        if not all(isinstance(keys.get(k), bytes) and len(keys[k]) == 32 for k in KEY_NAMES):
            raise ProtocolError(f"refusing the round: malformed keys relayed for {owner!r}")
        try:
            statement = keys_statement(
                state["roster"], owner, signed_at, keys["c_pk"], keys["s_pk"]
            )
            identity.verify(owner, keys["certificate"], statement, keys["signature"])
        except (KeyError, TypeError, SignatureError) as exc:
            raise ProtocolError(
                f"refusing the round: the keys relayed for client {owner!r} are not signed "
                f"by it ({exc}); the coordinator may be swapping keys"
            ) from None

    # -- stage 2: share delivery ------------------------------------------------------------
    def _deliver(self, call: ClientCall) -> dict[str, Any]:
        """Open the shares the neighbours dealt this client and check each pair against the
        digests its dealer committed to (relayed by the coordinator); keep them for unmasking.

        Refuses fewer usable dealers than the threshold ``t``: the coordinator could
        otherwise leave this client's input under a few pairwise masks (none, at worst: then
        the self-mask alone, which the round rebuilds, hides it). At least ``t`` dealers,
        with ``t > k/2``, leave too few of the other neighbours to rebuild the self-mask while
        claiming all the dealers dropped.

        Shares that do not open, are no shares or miss their digests are their dealer's doing
        or the relay's. In an unsigned round the coordinator follows the protocol, so this
        client **complains** instead, naming the dealers, and forgets this start's masking
        secrets (it sends no input under them). Only when the coordinator has abandoned the
        start does it ask for the sealing secret (:meth:`_reveal`), with which it opens the
        same sealed bytes and convicts whichever of the dealer and this client lied
        (``SecAggPlus``). The secret opens only this start's shares to and from this client.
        In a signed round the coordinator may be the one tampering, so the client reveals
        nothing: it **refuses** this start, naming the dealers, and forgets its secrets; the
        coordinator convicts a dealer that at least ``t`` holders refuse (more than can
        collude), and starts the round again without it.
        """
        state = self._state(call, DELIVER)
        if "c_sk" not in state or "enc" not in state:
            raise ProtocolError("shares delivered before this client shared keys, or twice")
        r, u = state["round"], call.client_id
        sealed_for_me = _mapping(call.message["sealed"], "sealed")
        digests = _mapping(call.message["digests"], "digests")
        held: dict[str, bytes] = {}  # dealer -> its key share + its seed share (70 + 70)
        faults: dict[str, str] = {}
        for v, sealed in sealed_for_me.items():
            if v not in state["s_pk"]:
                raise ProtocolError(f"shares from {v!r}, who is not a neighbour that shared keys")
            try:
                pair = open_dealt_shares(state["enc"][v], sealed, digests.get(v), r, v, u)
                held[v] = pair[0] + pair[1]
            except ValueError as exc:
                faults[v] = str(exc)
        if faults and not state.get("signed"):
            for done in ("s_sk", "seed", "enc"):  # this start is over for this client
                state.pop(done)
            state["complained"] = sorted(faults)  # the sealing secret is kept for _reveal
            return {"complaints": sorted(faults)}
        state.pop("c_sk")
        if faults:  # signed: name the dealers, reveal nothing, send no input this start
            for done in ("s_sk", "seed", "enc"):
                state.pop(done)
            return {"refused": sorted(faults)}
        if len(held) < state["threshold"]:
            raise ProtocolError(
                f"refusing to send a masked input: shares from only {len(held)} neighbours "
                f"arrived, {state['threshold']} needed (with fewer pairwise masks the "
                "coordinator could strip them)"
            )
        state["held"] = held
        return {"held": len(held)}

    def _reveal(self, call: ClientCall) -> dict[str, Any]:
        """The sealing secret behind this client's complaint, once: the coordinator asks for
        it only for a start it abandons (its two-step order keeps a complaint that arrives
        after the delivery stage's timeout from giving away a secret of a start that goes
        on)."""
        state = self._state(call, REVEAL)
        if "complained" not in state or "c_sk" not in state:
            raise ProtocolError("asked to reveal a sealing secret without a complaint, or twice")
        return {"c_sk": state.pop("c_sk")}

    # -- stage 3: masked input collection ---------------------------------------------------
    def _masked_input(self, call: ClientCall, call_next: CallNext) -> dict[str, Any]:
        message, u = call.message, call.client_id
        with _well_formed(MASKED_INPUT):  # the whole message is checked before training
            state = self._state(call, MASKED_INPUT)
            if "s_pk" not in state:
                raise ProtocolError(
                    "refusing a second masked input this round: two inputs under the same "
                    "masks would reveal their difference"
                )
            if "held" not in state:
                raise ProtocolError("a masked input before this client's shares were delivered")
            r, held = state["round"], state["held"]
            settings = _InputSettings.parse(message)
            fit_ins: FitIns = message["fit"]
            if not isinstance(fit_ins, FitIns):
                raise TypeError(f"'fit' is {type(fit_ins).__name__}, not FitIns")
        # A model that travelled compressed is what the client trains from once decoded,
        # Q(w): the update is taken against it (the coordinator re-bases the sum on its
        # exact w). Decoded here, once, before the chain runs (decompress_model's work, no
        # longer requested of it), since the strategy's mods may change the model on its
        # way to training (FedPer's personal layers) and run training more than once
        # (Ditto's, FedRep's).
        if MODEL_CONFIG_PREFIX + "codec" in fit_ins.config:
            fit_ins = decompressed_fit(fit_ins)
        # The fit carries the mods the strategy requested (dp_clip, fedprox...): the chain
        # runs them on its way to the client, inside this mod and around the installed ones,
        # skipping any the party installed under the same name (so none runs twice).
        result = call_next(call.forward(FIT, fit_ins))
        if not isinstance(result, FitResult):
            raise ProtocolError(f"training returned {type(result).__name__}, not FitResult")
        bits = settings.bits
        dtype = wire_dtype(bits)
        masked = self._input_vector(settings, fit_ins, result, dtype)  # entries below 2^bits
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
        settings: _InputSettings,
        fit_ins: FitIns,
        result: FitResult,
        dtype: np.dtype[np.unsignedinteger],
    ) -> np.ndarray:
        """``[m q(d) | m | clipped | unclipped | weight]`` in the wire dtype (see the protocol
        module): the update is computed and quantised chunk by chunk straight into the vector
        (:func:`_quantise_update`), with no whole-model temporaries."""
        quantisation = settings.quantisation
        if settings.mode == MODE_DP:
            if settings.weight_cap is not None:
                weight = min(1.0, result.num_examples / settings.weight_cap)
            else:
                weight = 1.0
            multiplier = 1
            bit = result.metrics.get(UNCLIPPED_METRIC)
            unclipped = 1 if isinstance(bit, (int, float)) and float(bit) >= 0.5 else 0
            fixed_weight = round(weight * WEIGHT_SCALE)
        else:
            weight = 1.0
            multiplier = int(result.num_examples)
            if not 1 <= multiplier <= settings.max_examples:
                raise ProtocolError(
                    f"{multiplier} training examples is outside 1..{settings.max_examples} "
                    "(secagg max_examples): raise it in the coordinator's [privacy] section"
                )
            unclipped, fixed_weight = 0, 0
        # under DP the quantised update must stay within the clip norm the accountant
        # assumes: shrink it by the rounding's worst case first (see rounding_room)
        room = 1.0
        if settings.mode == MODE_DP:
            room = rounding_room(fit_ins.parameters, result.parameters, quantisation, weight)
        # the ring holds max_examples * (levels - 1): m * q(d) does not wrap
        vector, clipped = _quantise_update(
            fit_ins.parameters, result.parameters, weight * room, quantisation, multiplier, dtype
        )
        vector[-EXTRA:] = [multiplier, clipped, unclipped, fixed_weight]
        return vector

    # -- stage 4 (signed rounds): consistency check ----------------------------------------
    def _consistency(self, call: ClientCall) -> dict[str, Any]:
        """Sign the survivor set the coordinator announces - once a round, and only a set
        that holds this client, lies within the round's clients and reaches the threshold."""
        state = self._state(call, CONSISTENCY)
        u = call.client_id
        if not state.get("signed"):
            raise ProtocolError("a consistency check in an unsigned round")
        if "s_pk" in state or "held" not in state:
            raise ProtocolError("a consistency check before this client's masked input")
        if "survivors" in state:
            raise ProtocolError(
                "refusing to sign a second survivor set this round: two sets would let the "
                "coordinator tell clients different stories about who dropped"
            )
        announced = [str(v) for v in call.message["survivors"]]
        survivors = sorted(set(announced))
        strangers = sorted(set(survivors) - set(state["clients"]))
        if len(survivors) != len(announced) or strangers or u not in survivors:
            raise ProtocolError(
                "refusing a malformed survivor set (repeated names, clients outside the round "
                f"{strangers or ''}, or without this client)"
            )
        if len(survivors) < state["threshold"]:
            raise ProtocolError(
                f"refusing to sign: {len(survivors)} survivors, below the threshold "
                f"{state['threshold']}"
            )
        state["survivors"] = survivors
        signed_at = now_s()
        statement = survivors_statement(state["roster"], signed_at, survivors)
        return {"signature": self._identity(u).sign(statement), "signed_at": signed_at}

    # -- stage 5: unmasking -----------------------------------------------------------------
    def _unmask(self, call: ClientCall) -> dict[str, Any]:
        state = self._state(call, UNMASK)
        call.state.pop(STATE_KEY)
        held: dict[str, bytes] = state.get("held", {})
        dropped, survivors = list(call.message["dropped"]), list(call.message["survivors"])
        if not all(isinstance(v, str) for v in (*dropped, *survivors)):
            raise TypeError("client names must be strings")
        if state.get("signed"):
            self._check_survivors_signed(call, state, dropped, survivors)
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
            "key_shares": {v: held[v][:70] for v in dropped},
            "seed_shares": {v: held[v][70:] for v in survivors if v != call.client_id},
        }

    def _check_survivors_signed(
        self,
        call: ClientCall,
        state: Mapping[str, Any],
        dropped: Sequence[str],
        survivors: Sequence[str],
    ) -> None:
        """Before revealing any share, require the survivor set this client signed to be
        signed by a quorum of the round's clients (:func:`consistency_quorum`).

        An honest client signs one set a round, so two honest clients told different sets
        would each need ``T`` signatures from the roster's ``n`` clients, and the two groups
        share at least ``2T - n >= 2t - k`` signers: with fewer colluders than that, every
        honest client acts on one U3. (A check within neighbourhoods is not enough: the
        decision "v survived" and "w dropped", for w a neighbour of v, would be checked in
        different neighbourhoods, and a coordinator alone could split them.)
        """
        signed_set = state.get("survivors")
        if signed_set is None:
            raise ProtocolError("refusing to unmask: this client signed no survivor set")
        held: Mapping[str, Any] = state.get("held", {})
        if set(survivors) != {v for v in held if v in signed_set} or set(dropped) != {
            v for v in held if v not in signed_set
        }:
            raise ProtocolError(
                "refusing to unmask: the coordinator's dropped and surviving neighbours differ "
                "from the survivor set this client signed"
            )
        quorum = consistency_quorum(len(state["clients"]), state["degree"], state["threshold"])
        identity = self._identity(call.client_id)
        signatures, certificates, times = (
            _mapping(call.message.get(name, {}), name)
            for name in ("signatures", "certificates", "signed_at")
        )
        now = now_s()

        def signed_by(w: str) -> bool:
            signed_at = times.get(w)
            if not is_fresh(signed_at, state["since"], now):
                return False
            statement = survivors_statement(state["roster"], signed_at, signed_set)
            try:
                identity.verify(w, certificates[w], statement, signatures[w])
            except (KeyError, TypeError, SignatureError):
                return False
            return True

        signers = [w for w in signed_set if w in signatures and signed_by(w)]
        if len(signers) < quorum:
            raise ProtocolError(
                f"refusing to unmask: only {len(signers)} clients signed the survivor set this "
                f"client signed, {quorum} needed (the coordinator may be telling clients "
                "different survivor sets)"
            )

    @staticmethod
    def _state(call: ClientCall, stage: str) -> dict[str, Any]:
        state = call.state.get(STATE_KEY)
        if not isinstance(state, dict):
            raise ProtocolError(f"secure aggregation stage {stage!r} before {ADVERTISE!r}")
        if int(call.message.get("round", state["round"])) != state["round"]:
            raise ProtocolError(f"stage {stage!r} for another round than this client advertised")
        return state


@dataclass(frozen=True)
class _InputSettings:
    """The masked-input stage's settings, checked before the client trains."""

    bits: int
    quantisation: Quantisation
    mode: str
    weight_cap: float | None
    """DP with bounded weights: the example count at which the weight reaches 1."""
    max_examples: int

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> _InputSettings:
        """Read them from the stage message.

        Raises
        ------
        ValueError, TypeError, KeyError
            For a missing or out-of-range setting (turned into a refusal by the caller).
        """
        bits = _integer(message["ring_bits"], "ring_bits", 1, 64)
        quantisation = Quantisation(
            float(message["clip_range"]),
            _integer(message["quantisation_bits"], "quantisation_bits", 1, 32),
        )
        mode = message["mode"]
        if mode not in (MODE_DP, MODE_EXAMPLES):
            raise ValueError(f"unknown mode {mode!r}")
        weight_cap = None
        if mode == MODE_DP and message["weighting"] == "bounded":
            weight_cap = float(message["weight_cap"])
            if not (math.isfinite(weight_cap) and weight_cap > 0):
                raise ValueError(f"weight_cap {weight_cap} is not a positive number")
        max_examples = 1
        if mode == MODE_EXAMPLES:
            max_examples = _integer(message["max_examples"], "max_examples", 1, 1 << 62)
        return cls(bits, quantisation, mode, weight_cap, max_examples)


def _integer(value: object, name: str, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name} is {type(value).__name__}, not an integer")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} {value} is outside {low}..{high}")
    return int(value)


EPOCH_KEY = "secagg.last_epoch"
"""Where a client keeps the epoch of the last signed round it started, in its persisted
state beside the round's own entry."""


RESTART_SKEW_S = 5
"""How far the coordinator's clock may lag a party's for the first signed round after the
party's mod is made: it starts no round whose epoch is older than that, less these seconds."""


def _take_epoch(persisted: dict[str, Any], epoch: int, now: int, floor: int) -> None:
    """Start a signed round only at an epoch later than any this client started (and than
    ``floor``, when this client's mod was made), and within :data:`FRESHNESS_S` of its
    clock; note it.

    The quorum argument needs each honest client to sign one survivor set per roster. The
    epoch is part of the roster, so a coordinator that started the same round again would
    need a new, later epoch, and the signatures of the first start would not count in the
    second. A client that restarts forgets its last epoch, so the epoch must also be later
    than the restart.
    """
    last = persisted.get(EPOCH_KEY)
    if epoch <= floor:
        raise ProtocolError(
            f"refusing a signed round at epoch {epoch}: it started before this client did "
            f"(more than {RESTART_SKEW_S} s before, by this client's clock; the coordinator's "
            f"clock at the round's start was {clock_gap(epoch // 1000, now)} this client's "
            f"now): a round restarted after this party was, or the coordinator's clock is "
            f"behind this machine's; {CLOCK_FIX}"
        )
    if isinstance(last, int) and epoch <= last:
        raise ProtocolError(
            f"refusing to start a signed round at epoch {epoch}: this client already started "
            f"one at epoch {last} (a second start of a round would let the coordinator collect "
            "a second survivor-set signature)"
        )
    if abs(epoch // 1000 - now) > FRESHNESS_S:
        raise ProtocolError(
            f"refusing a signed round whose epoch {epoch} ms is not within {FRESHNESS_S} s of "
            f"this client's clock: the coordinator's clock at the round's start was "
            f"{clock_gap(epoch // 1000, now)} this client's; {CLOCK_FIX}"
        )
    persisted[EPOCH_KEY] = epoch


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name!r} is {type(value).__name__}, not a mapping")
    return value


@contextmanager
def _well_formed(stage: str) -> Iterator[None]:
    """Turn a malformed coordinator message (a missing field, a wrong type) into a refusal
    naming the stage, instead of a crash."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, ArithmeticError) as exc:
        raise ProtocolError(
            f"refusing a malformed {stage!r} message ({type(exc).__name__}: {exc})"
        ) from exc


def _public_graph(
    client_id: str,
    message: Mapping[str, Any],
    state: Mapping[str, Any],
    min_neighbours: int,
    min_threshold: float,
) -> dict[str, Any]:
    """In a signed round, check that the coordinator gave this client its neighbours and
    Shamir points in the round's public graph (:func:`neighbour_graph` of the announced
    clients and degree), at least ``min_neighbours`` of them and a threshold of at least
    ``floor(min_threshold * k) + 1`` (above half in any case); return what later stages
    need.

    A coordinator free to pick a client's neighbours could surround it with accomplices; one
    free to lower the degree or the threshold would need fewer of them. The roster (who is
    in the round) and the round number still come from the coordinator, which may place its
    accomplices among this client's neighbours: the guarantee is stated in accomplices in
    total (fewer than ``2t - k``), which the pinned ``k`` and ``t`` bound from below.
    """
    clients = sorted(str(v) for v in message["clients"])
    degree = int(message["degree"])
    if (
        client_id not in clients
        or len(set(clients)) != len(clients)
        or not 2 <= degree < len(clients)
    ):
        raise ProtocolError("refusing the round: a malformed client list or graph degree")
    graph = neighbour_graph(clients, degree, state["round"])
    points = {v: i + 1 for i, v in enumerate(clients)}
    mine = graph[client_id]
    if sorted(state["neighbours"]) != mine or state["points"] != {
        v: points[v] for v in (client_id, *mine)
    }:
        raise ProtocolError(
            "refusing the round: the neighbours the coordinator gave this client are not the "
            "round's public graph"
        )
    k, t = len(mine), state["threshold"]
    if k != degree:  # an odd degree below n - 1 makes a graph of degree - 1
        raise ProtocolError(f"refusing the round: degree {degree} makes a graph of degree {k} here")
    if k < min_neighbours:
        raise ProtocolError(
            f"refusing the round: {k} neighbours, this client requires {min_neighbours}"
        )
    if t < math.floor(min_threshold * k) + 1 or t > k:
        raise ProtocolError(
            f"refusing the round: a threshold of {t} of {k} neighbours (this client requires "
            f"at least {math.floor(min_threshold * k) + 1})"
        )
    epoch = _integer(message["epoch"], "epoch", 0, 1 << 62)
    roster = roster_digest(state["round"], epoch, clients, degree, state["threshold"])
    return {"signed": True, "clients": clients, "degree": degree, "roster": roster, "epoch": epoch}


def _checked_sizes(reference: Sequence[np.ndarray], trained: Sequence[np.ndarray]) -> list[int]:
    """The model's array sizes, once training is known to have returned arrays of them.

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
    return sizes


def rounding_room(
    reference: Sequence[np.ndarray],
    trained: Sequence[np.ndarray],
    quantisation: Quantisation,
    weight: float = 1.0,
) -> float:
    """The factor (at most 1) that keeps a DP client's quantised, ``weight``-ed update
    within the clip norm ``C`` (the quantisation's range): rounding to the nearest level
    moves each of the ``d`` coordinates by at most ``C / (levels - 1)``, so the vector by at
    most ``sqrt(d) C / (levels - 1)``, and a weighted update longer than
    ``C (1 - sqrt(d) / (levels - 1))`` is scaled down to that length. The sum's sensitivity
    is then ``C``, as the accountant assumes (about 1.6% of ``C`` would be missing at 1.1M
    parameters and 16 bits otherwise).

    Raises
    ------
    ProtocolError
        If ``sqrt(d) >= levels - 1``: the rounding alone could exceed ``C`` (more
        quantisation bits are needed); or if training returned arrays of other sizes.
    """
    size = sum(_checked_sizes(reference, trained))
    margin = math.sqrt(size) / quantisation.top
    if margin >= 1.0:
        raise ProtocolError(
            f"{size} parameters at {quantisation.quantisation_bits} quantisation bits: rounding "
            "alone could exceed the DP clip norm; raise secagg_quantisation_bits"
        )
    squares = 0.0
    # one reused buffer: sum each chunk before the next
    for _, update in difference_blocks(reference, trained, CHUNK_VALUES):
        squares += sum_of_squares([update])
    limit = quantisation.clip_range * (1.0 - margin)
    norm = weight * math.sqrt(squares)
    return min(1.0, limit / norm) if norm > 0 else 1.0


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
    sizes = _checked_sizes(reference, trained)
    vector = np.empty(sum(sizes) + EXTRA, dtype=dtype)
    clipped = 0
    for offset, update in difference_blocks(reference, trained, CHUNK_VALUES):
        if weight != 1.0:
            update *= weight
        end = offset + update.size
        clipped += quantise_into(update, quantisation, vector[offset:end], multiplier)
    return vector, clipped
