r"""The coordinator half of SecAgg+ (Bell, Bonawitz, Gascon, Lepoint, Raykova, CCS 2020) as a
round workflow: the same code runs in simulation and in the deployed coordinator.

Round r over the sampled clients U, on a public k-regular graph N(.) with threshold t:

0. **Advertise keys.** Each u sends two X25519 public keys (c_pk for sealing shares, s_pk for
   mask agreement). Survivors U1. *Coordinator learns:* public keys.
1. **Share keys.** Each u gets its neighbours' keys, draws a self-mask seed b_u, splits s_sk_u
   and b_u t-of-|N(u) n U1| (Shamir) and sends each neighbour its pair of shares sealed under
   their agreed key, with a digest of every share and a commitment to b_u. Survivors U2.
   *Learns:* sealed bytes, digests of random field elements, the hash of a random seed.
2. **Share delivery.** Each u in U2 gets the shares sealed for it with their dealers'
   digests, opens them and checks them. In an unsigned round, a client dealt shares that do
   not open or miss their digests complains, naming the dealers. Any complaint abandons the
   start (no input exists under its keys yet); only then does the coordinator ask each
   complainer for its sealing secret (``secagg.reveal``), open the same bytes, convict the
   dealer (or the complainer, if they open and match) and start the round again without the
   culprits and any complainer that did not reveal. *Learns:* how many shares each client
   holds; on a complaint, the abandoned start's shares to and from the complainer.
3. **Masked input.** Each u in U2 that holds its shares trains and sends
   ``y_u + PRG(b_u) + sum_{v in N(u) n U2} +-PRG(s_uv) mod 2^bits``. Survivors U3. *Learns:*
   vectors uniform in the ring (each carries a fresh self-mask).
4. **Unmask.** Each u in U3 returns, for each neighbour, the share of s_sk if it dropped in
   stage 2 (U2 \ U3) or of b if it survived - never both. The coordinator checks every share
   against its owner's digest, rebuilds each dropped client's s_sk (checked against its s_pk)
   to strip its pairwise masks, and each survivor's b (checked against its commitment) to
   strip its self-mask. A secret that misses its check convicts its owner (every share was
   the one it dealt): the owner is excluded and the round starts again over U3 without it,
   required to keep all of them. *Learns:* the
   sum over U3, nothing about any one y_u while fewer than t of a client's neighbours collude.

With ``SecAgg(signed=True)`` (the malicious-coordinator variant, Bonawitz et al. CCS 2017,
Section 6, on Bell et al.'s graph), each client signs its keys with its federation
certificate, checks its neighbours' signatures and that its neighbours are the public graph's,
refuses the start (reveals nothing; a dealer refused by ``t`` holders is convicted) when
dealt a share it cannot use, and a **consistency
check** runs between stages 3 and 4: the coordinator announces U3, each
client signs it once, and before unmasking each client checks that a quorum
T = ceil((n + 2t - k) / 2) of the round's clients signed the same U3. *Learns:* signatures on
public data.

A round that cannot be unmasked - fewer than t valid shares of some secret, or fewer than t
survivors - raises :class:`~rengo.core.errors.RoundFailure` naming who dropped at which stage;
it is never skipped silently. With DP (``DifferentialPrivacy``, ``clip_at = "client"``) the
clients send their clipped, weighted update and the unclipped bit; the coordinator adds the
Gaussian noise to the unmasked sum (central DP on a secure sum: the coordinator is trusted to
add the noise, but never sees an update).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from rengo.core.errors import ClientFailure, ConfigError, RoundFailure
from rengo.core.messages import EvaluateIns
from rengo.core.parameters import Parameters, unflatten
from rengo.crypto.pairwise import agree, public_key_of
from rengo.crypto.prg import add_masks
from rengo.crypto.quantisation import Quantisation, dequantise_sum, ring_bits_for
from rengo.crypto.shamir import Share, combine_shares
from rengo.crypto.signatures import SignatureError, verify_signed
from rengo.hfl.failure_log import LISTED_ONE_BY_ONE, failures_summary
from rengo.hfl.model_compression import (
    downlink_problem,
    send_compressed_model,
    send_evaluation_model,
)
from rengo.hfl.mods.chain import FIT
from rengo.hfl.mods.compression import DecompressModelMod
from rengo.hfl.secagg.client_mod import SecAggMod
from rengo.hfl.secagg.protocol import (
    ADVERTISE,
    CLOCK_FIX,
    CONSISTENCY,
    DELIVER,
    DIGEST_BYTES,
    EXTRA,
    FRESHNESS_S,
    MASKED_INPUT,
    MODE_DP,
    MODE_EXAMPLES,
    REVEAL,
    SHARE_KEYS,
    SHARE_KINDS,
    UNMASK,
    WEIGHT_SCALE,
    clock_gap,
    committed_digest,
    consistency_quorum,
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
    share_digest,
    survivors_statement,
    wire_dtype,
)
from rengo.hfl.strategy.base import Strategy, WeightedSum
from rengo.hfl.strategy.dp import ClippedDeltaSum, DifferentialPrivacy
from rengo.hfl.update_compression import UpdateCompression
from rengo.hfl.workflow import FitRound, ShortRound
from rengo.privacy.secagg_config import SecAgg

log = logging.getLogger("rengo.hfl")


@dataclass
class SecAggReport:
    """What the last round's secure aggregation did (for logs and tests)."""

    dropped: dict[str, list[str]] = field(default_factory=dict)
    """Stage key -> clients dropped at that stage."""
    rejected_shares: list[str] = field(default_factory=list)
    """``"holder -> owner (kind)"`` for every share that failed its digest."""
    clipped_fraction: float = 0.0
    """Fraction of the summed coordinates that were clipped to the range."""
    ring_bits: int = 0
    rounding_error: float = 0.0
    """Per-coordinate bound on the quantisation error of the unmasked weighted sum (divide
    by the sum of the clients' weights, their example counts or one each under DP's fixed
    weights, for the mean's)."""
    signed: bool = False
    """Whether the round ran signed, with the consistency check."""
    excluded: dict[str, str] = field(default_factory=dict)
    """Client -> why it was excluded: it dealt shares that do not rebuild its secret, sealed
    shares its holder could not use, or complained falsely about shares dealt to it."""
    complaints: dict[str, list[str]] = field(default_factory=dict)
    """Complaining client -> the dealers whose shares it said it could not use (all starts)."""
    starts: int = 0
    """How many times the round started (one more per discovery of such clients)."""
    thresholds: list[int] = field(default_factory=list)
    """The Shamir threshold ``t`` of each start (a restart over fewer clients may have a
    lower one)."""
    unmasked: bool = False
    """Whether any start reached unmasking (shares of survivors' seeds were asked for), so
    that the coordinator may have learnt a sum of this round's updates. A round that failed
    before it released nothing, and may run again over another cohort."""
    degree: int = 0
    """The communication graph's degree ``k`` of the last start (each client's neighbours)."""
    summed: list[str] = field(default_factory=list)
    """The clients whose inputs the unmasked sum holds (empty until a start unmasks one)."""


@dataclass
class SecAggPlus:
    """SecAgg+ as a fit workflow: ``simulate(..., workflow=SecAggPlus())`` or
    ``Coordinator(..., workflow=SecAggPlus(SecAgg(neighbours=8)))``.

    Parameters
    ----------
    config
        Graph degree, threshold and quantisation (:class:`~rengo.privacy.SecAgg`).
    ca
        The federation CA's certificate (PEM) that signed rounds check the clients'
        certificates against. A deployed coordinator passes its own ``ca.pem``; a
        simulation passes the CA of :func:`~rengo.crypto.signatures.simulated_identities`.
    model
        How the global model travels *down* to each client: ``"none"`` (as it is, the
        default), ``"float16"`` or ``"int8"``, or an
        :class:`~rengo.hfl.UpdateCompression` whose ``update`` is ``"none"`` (to set the
        int8 ``chunk``). Each client masks its update against the model it decoded,
        ``m_k - Q(w)``, and the coordinator adds the unmasked sum to its exact ``w``, so the
        rounding never accumulates in the global model (see
        :mod:`rengo.hfl.model_compression`). The updates themselves are quantised into the
        ring as always.
    **options
        Or its fields by name: ``SecAggPlus(neighbours=8, threshold=0.6)``.

    Raises
    ------
    TypeError
        If both ``config`` and options are given.
    ConfigError
        For an unknown model codec, or an :class:`~rengo.hfl.UpdateCompression` that
        compresses updates (secure aggregation quantises them into its ring itself).
    """

    sees_each_update: ClassVar[bool] = False
    """The coordinator learns only the sum: per-update result checks cannot run (see
    :func:`~rengo.hfl.workflow.applicable_checks`)."""

    config: SecAgg = field(default_factory=SecAgg)
    ca: bytes | None = field(default=None, repr=False)
    model: UpdateCompression = field(default_factory=UpdateCompression)
    last: SecAggReport = field(default_factory=SecAggReport, compare=False)

    def __init__(
        self,
        config: SecAgg | None = None,
        *,
        ca: bytes | None = None,
        model: str | UpdateCompression = "none",
        **options: Any,
    ) -> None:
        if config is not None and options:
            raise TypeError("give either config=SecAgg(...) or its options by name, not both")
        self.config = config if config is not None else SecAgg(**options)
        self.ca = ca
        self.model = _downlink(model)
        self.last = SecAggReport()

    def round_record(self) -> str:
        """What the last round let the coordinator learn, for the run's record: the clients
        whose sum it unmasked, the Shamir threshold and graph degree, and who dropped or was
        excluded at which stage (their pairwise masks were rebuilt from shares).

        Returns
        -------
        str
            One line.
        """
        report = self.last
        summed = report.summed
        starts = "" if report.starts <= 1 else f" after {report.starts} starts"
        dropped = "; ".join(
            f"dropped at {stage}: {', '.join(sorted(clients))}"
            for stage, clients in sorted(report.dropped.items())
            if clients
        )
        excluded = "; ".join(f"excluded {c}: {why}" for c, why in sorted(report.excluded.items()))
        return (
            f"secure aggregation (SecAgg+{', signed' if report.signed else ''}): the "
            f"coordinator unmasked only the sum of {len(summed)} clients' updates "
            f"({', '.join(summed)}){starts}, Shamir threshold t = "
            f"{report.thresholds[-1] if report.thresholds else 'none'} of each client's "
            f"{report.degree} neighbours, {self.config.quantisation_bits}-bit "
            f"quantisation in a {report.ring_bits}-bit ring"
            + "".join(f"; {part}" for part in (dropped, excluded) if part)
        )

    def client_mods(self) -> tuple[str, ...]:
        """``decompress_model`` when the model travels compressed (the clients evaluate the
        model they decoded; a masked input is taken against it too), and ``secagg``."""
        decompress = (DecompressModelMod.name,) if self.model.compresses_model else ()
        return (*decompress, SecAggMod.name)

    def model_problem(self, parameters: Parameters) -> str | None:
        """Why ``parameters`` cannot travel to the clients with the model codec (a value
        beyond float16's range), or None (:func:`~rengo.hfl.model_compression.downlink_problem`)."""
        return downlink_problem(self.model, parameters)

    def prepare_evaluate(
        self,
        server_round: int,
        seed: int,
        parameters: Parameters,
        instructions: list[tuple[str, EvaluateIns]],
    ) -> None:
        """Put the compressed model in every evaluation instruction, as a fit's.

        Raises
        ------
        RoundFailure
            If the model cannot be encoded (a value beyond float16's range).
        """
        send_evaluation_model(self.model, server_round, seed, parameters, instructions)

    # -- the round --------------------------------------------------------------------------
    def run(self, fit_round: FitRound) -> WeightedSum:
        """Run the stages; return the strategy's accumulator holding the unmasked sum.

        A client caught dealing shares that do not rebuild the secret it committed to (its
        self-mask seed, or its masking key) is excluded from the run, and the round starts
        again, once per such discovery, over the first start's survivors without it; the
        second start must keep every one of them (a sum over any other set, of the same
        updates, would reveal the difference of two sums). A client convicted on a complaint
        at share delivery (a dealer of shares its holder cannot use, or a holder that
        complains falsely) is excluded too, and the round starts again before any input is
        sent, over the clients still there.

        Raises
        ------
        ConfigError
            If the strategy needs each update (robust rules, SCAFFOLD) or DP clips at the
            coordinator: secure aggregation releases only the sum.
            Also if the round is signed and no CA certificate was given.
        RoundFailure
            If the sum cannot be unmasked (naming who dropped at which stage).
        """
        ca = self._trust()
        acc = fit_round.strategy.accumulator(fit_round.server_round, fit_round.parameters)
        mode, extra_message = self._mode(fit_round.strategy, acc, fit_round.parameters)
        if self.model.compresses_model:  # once for every start: the fits carry Q(w)
            send_compressed_model(
                self.model, fit_round.server_round, fit_round.seed, fit_round.parameters,
                FIT, [ins for _, ins in fit_round.instructions], decode=False,
            )  # fmt: skip
        self.last = report = SecAggReport()
        clients = [cid for cid, _ in fit_round.instructions]
        required: frozenset[str] | None = None
        epoch = 0
        while True:
            # a start's epoch (its time in ms) is later than any earlier start's: signed
            # clients take part in a round's starts only in increasing epochs
            epoch = max(time.time_ns() // 1_000_000, epoch + 1)
            report.starts += 1
            try:
                return self._start(
                    fit_round, acc, report, ca, mode, extra_message, clients, required, epoch
                )
            except _Restart as caught:  # the culprits are excluded already
                clients, required = caught.clients, caught.required
                log.warning(
                    "round %d: secure aggregation excluded %s (%s); starting again over %d "
                    "clients",
                    fit_round.server_round, ", ".join(sorted(caught.culprits)),
                    "; ".join(caught.culprits.values()), len(clients),
                )  # fmt: skip

    def _start(
        self,
        fit_round: FitRound,
        acc: WeightedSum,
        report: SecAggReport,
        ca: bytes | None,
        mode: str,
        extra_message: Mapping[str, Any],
        ids: list[str],
        required: frozenset[str] | None,
        epoch: int,
    ) -> WeightedSum:
        """One start of the round over ``ids``; ``required``: the survivors a restart must
        keep (None on the first start)."""
        r, started = fit_round.server_round, now_s()
        report.dropped, report.rejected_shares = {}, []  # this start's
        n = len(ids)
        degree = self.config.graph_degree(n)
        threshold = self.config.reconstruction_threshold(degree)
        report.thresholds.append(threshold)
        report.degree = degree
        try:
            self.check_round_clients(n)
        except ConfigError as exc:
            raise RoundFailure(str(exc)) from None
        graph = neighbour_graph(ids, degree, r)
        points = {cid: i + 1 for i, cid in enumerate(sorted(ids))}
        size = sum(int(np.asarray(p).size) for p in fit_round.parameters)
        clip_range = float(extra_message.get("clip_range", self.config.clip_range))
        quantisation = Quantisation(clip_range, self.config.quantisation_bits)
        bits = self._ring_bits(mode, n, size, quantisation)
        report.ring_bits = bits
        report.signed = ca is not None
        signing = (
            {"signed": True, "clients": sorted(ids), "degree": degree, "epoch": epoch} if ca else {}
        )

        # stage 0: advertise keys
        advertise = [
            (u, {"round": r, "threshold": threshold, "neighbours": graph[u],
                 "points": {v: points[v] for v in (u, *graph[u])}, **signing})
            for u in ids
        ]  # fmt: skip
        roster = roster_digest(r, epoch, ids, degree, threshold)
        public = dict(fit_round.exchange(ADVERTISE, advertise, _keys_checker(roster, ca, started)))
        u1 = [u for u in ids if u in public]
        self._note_dropped(fit_round, report, ADVERTISE, ids, u1)
        self._require(fit_round, report, u1, threshold, ADVERTISE)

        # stage 1: share keys
        share_messages = [
            (u, {"round": r, "keys": {v: public[v] for v in graph[u] if v in public}}) for u in u1
        ]
        shared = dict(
            fit_round.exchange(SHARE_KEYS, share_messages, _share_checker(graph, public, threshold))
        )
        u2 = [u for u in u1 if u in shared]
        self._note_dropped(fit_round, report, SHARE_KEYS, u1, u2)
        self._require(fit_round, report, u2, threshold, SHARE_KEYS)

        # stage 2: share delivery - each holder checks what it was dealt, or complains
        dealers = {u: [v for v in graph[u] if v in shared and u in shared[v]["sealed"]] for u in u2}
        deliveries = [
            (u, {"round": r, "sealed": {v: shared[v]["sealed"][u] for v in dealers[u]},
                 "digests": {v: shared[v]["digests"][u] for v in dealers[u]}})
            for u in u2
        ]  # fmt: skip
        delivered = dict(
            fit_round.exchange(DELIVER, deliveries, _delivery_checker(dealers, ca is not None))
        )
        ready = [u for u in u2 if u in delivered]
        self._note_dropped(fit_round, report, DELIVER, u2, ready)
        self._complaints(fit_round, report, delivered, ready, required, public, shared)
        ready = self._refusals(fit_round, report, delivered, ready, required)
        self._require(fit_round, report, ready, threshold, DELIVER)

        # stage 3: masked input collection
        instructions = dict(fit_round.instructions)
        dtype = wire_dtype(bits)
        length = size + EXTRA
        masked_messages = [
            (u, {"round": r, "fit": instructions[u], "ring_bits": bits, "mode": mode,
                 "clip_range": clip_range,
                 "quantisation_bits": self.config.quantisation_bits,
                 "max_examples": self.config.max_examples, **extra_message})
            for u in ready
        ]  # fmt: skip
        total = np.zeros(length, dtype=dtype)  # wraps mod 2^32 / 2^64, multiples of 2^bits
        arrived: set[str] = set()  # this start's inputs (fit_round.failures spans starts)
        with np.errstate(over="ignore"):
            for u, reply in fit_round.exchange(
                MASKED_INPUT, masked_messages, _masked_checker(length, dtype)
            ):
                total += reply["masked"]
                arrived.add(u)
        u3 = [u for u in ready if u in arrived]
        self._note_dropped(fit_round, report, MASKED_INPUT, ready, u3)
        if required is not None and set(u3) != required:
            raise self._failure(
                fit_round, report, f"the start without {', '.join(sorted(report.excluded))} "
                f"lost {', '.join(sorted(required - set(u3)))}: it may only sum the first "
                "start's other survivors (a sum of the same updates over another set would "
                "reveal the difference)",
            )  # fmt: skip
        # too few inputs: fail before unmasking (nothing released), so that the round may
        # run again over another cohort; a sum the coordinator would discard is never learnt
        min_fit = fit_round.strategy.min_fit_clients
        if len(u3) < max(threshold, min_fit):
            why = (
                f"{len(u3)} clients left after stage {MASKED_INPUT!r}, {threshold} needed"
                if len(u3) < threshold
                else f"{len(u3)} inputs arrived, min_fit_clients={min_fit}; the round would "
                "be discarded, so its sum is not unmasked"
            )
            failure = self._failure(fit_round, report, why)
            if report.unmasked:  # an earlier start reached unmasking: never run it again
                raise failure
            raise ShortRound(str(failure), len(u3), max(threshold, min_fit))
        # a secret fewer than t survivors hold shares of can never be rebuilt (3 clients, t = 2
        # of 2 neighbours: one dropout): short before unmasking, so the round may run again
        unholdable = _unholdable_secrets(dealers, u2, u3, threshold)
        if unholdable and not report.unmasked:
            why = (
                f"fewer than {threshold} survivors hold shares of {', '.join(unholdable)}, so "
                "they cannot be unmasked"
            )
            failure = self._failure(fit_round, report, why)
            raise ShortRound(str(failure), len(u3), max(threshold, min_fit))

        # stage 4 (signed rounds): consistency check - every survivor signs U3
        unmasking, signatures = u3, {}
        if ca is not None:
            check = [(u, {"round": r, "survivors": sorted(u3)}) for u in u3]
            signatures = dict(
                fit_round.exchange(
                    CONSISTENCY, check, _survivors_checker(roster, u3, ca, public, started)
                )
            )
            unmasking = [u for u in u3 if u in signatures]
            self._note_dropped(fit_round, report, CONSISTENCY, u3, unmasking)
            self._require(
                fit_round, report, unmasking, consistency_quorum(n, degree, threshold),
                CONSISTENCY,
            )  # fmt: skip

        # stage 5: unmasking
        relayed = self._relayed_signatures(signatures, public)
        dropped2 = set(u2) - set(u3)
        holds = {u: dealers[u] for u in u3}  # what each checked and kept at delivery
        unmask_messages = [
            (u, {"round": r, "dropped": [v for v in holds[u] if v in dropped2],
                 "survivors": [v for v in holds[u] if v in u3], "survivor_count": len(u3),
                 **relayed})
            for u in unmasking
        ]  # fmt: skip
        checker = _unmask_checker(fit_round, report, dict(unmask_messages))
        report.unmasked = True  # from here on the coordinator may learn this start's sum
        revealed = dict(fit_round.exchange(UNMASK, unmask_messages, checker))
        u4 = [u for u in unmasking if u in revealed]
        self._note_dropped(fit_round, report, UNMASK, unmasking, u4)

        # a culprit is excluded when convicted, so it stays out even if the round then fails
        rebuild = _Rebuild(fit_round, report, public, shared, revealed, threshold)
        seeds: list[tuple[bytes, int]] = []
        for v in sorted(dropped2):
            secret = rebuild(v, "key")
            if secret is None:
                continue
            masking_key = X25519PrivateKey.from_private_bytes(secret)
            for w in graph[v]:
                if w in u3 and w in shared[v]["sealed"]:
                    seed = agree(masking_key, public[w]["s_pk"], pair_context("mask", r, v, w))
                    # w added sign(w, v) * PRG(s_wv); take it away
                    seeds.append((seed, -mask_sign(w, v)))
        for u in u3:
            secret = rebuild(u, "seed")
            if secret is not None:
                seeds.append((secret, -1))
        if rebuild.culprits:  # the restart leaves out every client convicted this start
            survivors = [u for u in u3 if u not in report.excluded]
            raise _Restart(rebuild.culprits, survivors, frozenset(survivors))
        add_masks(total, seeds)
        total &= dtype.type(ring_mask(bits))
        report.summed = sorted(u3)
        fit_round.sum_only(
            u3, "secure aggregation (SecAgg+): the coordinator sees only the sum of the updates"
        )
        return self._fold(fit_round, acc, mode, total, size, len(u3), quantisation, report)

    # -- pieces -----------------------------------------------------------------------------
    @staticmethod
    def _complaints(
        fit_round: FitRound,
        report: SecAggReport,
        delivered: Mapping[str, Mapping[str, Any]],
        ready: Sequence[str],
        required: frozenset[str] | None,
        public: Mapping[str, Any],
        shared: Mapping[str, Any],
    ) -> None:
        """Unsigned rounds: on any complaint this start is abandoned, and only then are the
        complainers' sealing secrets asked for, judged (:func:`_judge`), and the round
        started again (:class:`_Restart`) without the culprits. A complainer that does not
        reveal (dropped) sits the round out: every start with a complaint ends with one
        client fewer, so complaints cannot stall a round. In a restart that must keep
        ``required`` it is a lost survivor like any other drop, and the next start fails
        the round naming it."""
        complaints = {u: delivered[u]["complaints"] for u in ready if "complaints" in delivered[u]}
        if not complaints:
            return
        for u, accused in complaints.items():
            report.complaints.setdefault(u, []).extend(accused)
        asked = [(u, {"round": fit_round.server_round}) for u in complaints]
        secrets = dict(fit_round.exchange(REVEAL, asked, _reveal_checker(fit_round, report)))
        _judge(fit_round, report, public, shared, complaints, secrets)
        culprits = {u: why for u, why in report.excluded.items() if u in ready}
        raise _Restart(
            culprits,
            [u for u in ready if u not in culprits and (u not in complaints or u in secrets)],
            None if required is None else required - set(culprits),
        )

    @staticmethod
    def _refusals(
        fit_round: FitRound,
        report: SecAggReport,
        delivered: Mapping[str, Mapping[str, Any]],
        ready: Sequence[str],
        required: frozenset[str] | None,
    ) -> list[str]:
        """Signed rounds: the holders that refused their shares (naming the dealers, with
        nothing revealed) sit the start out - unless at least ``t`` holders refused one
        dealer: then that dealer is convicted and the round starts again without it, the
        refusers included. ``t`` is the largest threshold of the round's starts, so a
        restart over fewer clients does not lower the bar (found by a review). Framing an
        honest dealer takes that many colluding holders: with the coordinator's help, as
        many could already read a client's input. Returns the clients that go on to the
        masked input."""
        refusals = {u: delivered[u]["refused"] for u in ready if "refused" in delivered[u]}
        if not refusals:
            return list(ready)
        threshold = max(report.thresholds)
        accusers: dict[str, list[str]] = {}
        for holder, dealers in refusals.items():
            report.complaints.setdefault(holder, []).extend(dealers)
            for dealer in dealers:
                accusers.setdefault(dealer, []).append(holder)
        culprits: dict[str, str] = {}
        for dealer, holders in sorted(accusers.items()):
            if len(holders) >= threshold and dealer not in report.excluded:
                why = (
                    f"dealt shares that {len(holders)} holders could not use "
                    f"({', '.join(sorted(holders))}; {threshold} convict in a signed round)"
                )
                culprits[dealer] = _convict(fit_round, report, dealer, why)
        if culprits:
            raise _Restart(
                culprits,
                [u for u in ready if u not in culprits],
                None if required is None else required - set(culprits),
            )
        for holder, dealers in refusals.items():
            fit_round.drop(
                holder, f"{DELIVER}: refused the round: the shares of {', '.join(dealers)} "
                "do not open or miss their digests",
            )  # fmt: skip
        report.dropped.setdefault(DELIVER, []).extend(refusals)
        return [u for u in ready if u not in refusals]

    def _trust(self) -> bytes | None:
        """The CA certificate of a signed round (None for an unsigned one)."""
        if not self.config.signed:
            return None
        if self.ca is None:
            raise ConfigError(
                "signed secure aggregation checks the clients' certificates against the "
                "federation CA: pass SecAggPlus(..., ca=ca_pem) (a deployed coordinator "
                "passes its ca.pem itself; token-authenticated federations have no client "
                "certificates to sign with)"
            )
        return self.ca

    @staticmethod
    def _relayed_signatures(
        signatures: Mapping[str, Mapping[str, Any]], public: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What every client needs to check the quorum on U3: each signer's signature, time
        and certificate (empty when unsigned)."""
        if not signatures:
            return {}
        signers = sorted(signatures)
        return {
            "signatures": {w: signatures[w]["signature"] for w in signers},
            "signed_at": {w: signatures[w]["signed_at"] for w in signers},
            "certificates": {w: public[w]["certificate"] for w in signers},
        }

    def check_round_clients(self, clients: int) -> None:
        """Refuse rounds of ``clients`` sampled clients, which secure aggregation cannot
        run (each round checks its own; a deployed run checks its parties' list at the start
        and before it changes them mid-run: :mod:`rengo.hfl.round_clients_fit`).

        Parameters
        ----------
        clients
            How many clients a round samples.

        Raises
        ------
        ConfigError
            If that is fewer than 3 (each would learn the others' updates from the sum), or
            the reconstruction threshold it gives is below 2.
        """
        if clients < 3:
            raise ConfigError(
                f"secure aggregation needs at least 3 sampled clients (got {clients}): with "
                "fewer, each learns the others' updates from the sum"
            )
        threshold = self.config.reconstruction_threshold(self.config.graph_degree(clients))
        if threshold < 2:
            raise ConfigError(
                f"secure aggregation's reconstruction threshold is {threshold} for rounds of "
                f"{clients} sampled clients (at least 2 are needed): raise secagg threshold"
            )

    def check_strategy(self, strategy: Strategy, parameters: Parameters) -> None:
        """Refuse a strategy secure aggregation cannot run, before any round (a run's
        simulation and deployment call it before the run is recorded).

        Parameters
        ----------
        strategy
            The run's strategy.
        parameters
            The initial model.

        Raises
        ------
        ConfigError
            If the strategy needs each update (robust rules, SCAFFOLD) or central DP clips at
            the coordinator: secure aggregation releases only the sum. Also if the initial
            model cannot travel with the model codec (a value beyond float16's range).
        """
        self._mode(strategy, strategy.accumulator(0, parameters), parameters)
        problem = self.model_problem(parameters)
        if problem is not None:
            raise ConfigError(f"the initial model cannot be sent: {problem}")

    def _mode(
        self, strategy: Strategy, acc: WeightedSum, parameters: Parameters
    ) -> tuple[str, dict[str, Any]]:
        if isinstance(strategy, DifferentialPrivacy) and isinstance(acc, ClippedDeltaSum):
            if strategy.dp.clip_at != "client":
                raise ConfigError(
                    "secure aggregation with central DP needs clip_at = 'client': the "
                    "coordinator never sees an update to clip"
                )
            return MODE_DP, {
                "weighting": strategy.dp.weighting,
                "weight_cap": max(1, strategy.dp.weight_cap),
                "clip_range": float(acc.clip_norm),
            }
        reference = strategy.result_reference(parameters)
        if type(acc) is not WeightedSum or len(reference) != len(parameters):
            raise ConfigError(
                f"secure aggregation releases only the sum of the updates; {strategy.name} "
                "needs each update or more than the model (use FedAvg, FedProx, FedAdam, "
                "FedYogi, FedAdagrad or DP-FedAvg)"
            )
        return MODE_EXAMPLES, {}

    def _ring_bits(self, mode: str, n: int, size: int, quantisation: Quantisation) -> int:
        largest = n * (self.config.max_examples if mode == MODE_EXAMPLES else 1)
        try:
            bits = ring_bits_for(largest, quantisation)
        except ValueError as exc:
            raise ConfigError(f"secure aggregation: {exc}") from exc
        counts = max(n * size, n * WEIGHT_SCALE if mode == MODE_DP else 0, largest)
        return min(64, max(bits, counts.bit_length()))

    def _fold(
        self,
        fit_round: FitRound,
        acc: WeightedSum,
        mode: str,
        total: np.ndarray,
        size: int,
        count: int,
        quantisation: Quantisation,
        report: SecAggReport,
    ) -> WeightedSum:
        multiplier, clipped, unclipped, weight = (int(x) for x in total[size:])
        problem = self._impossible_sum(
            mode, total[:size], count, (multiplier, clipped, unclipped, weight), quantisation
        )
        if problem is not None:
            raise self._failure(fit_round, report, f"{problem} (a client sent a malformed input)")
        sums = dequantise_sum(total[:size], multiplier, quantisation)
        report.clipped_fraction = clipped / max(1, count * size)
        report.rounding_error = float(multiplier / (2.0 * quantisation.scale))
        if clipped:
            log.warning(
                "round %d: secure aggregation clipped %d of %d coordinates to +-%g; raise "
                "secagg clip_range if that is more than a few",
                fit_round.server_round, clipped, count * size, quantisation.clip_range,
            )  # fmt: skip
        if mode == MODE_DP:
            assert isinstance(acc, ClippedDeltaSum)
            acc.add_clipped_sum(
                unflatten(sums, fit_round.parameters),
                float(unclipped),
                count,
                weight / WEIGHT_SCALE,
            )
            return acc
        global_vector = np.concatenate(
            [np.asarray(p, np.float64).ravel() for p in fit_round.parameters]
        )
        model_sums = unflatten(sums + multiplier * global_vector, fit_round.parameters)
        acc.add_sum([np.asarray(s, np.float64) for s in model_sums], float(multiplier), count)
        acc.num_examples += multiplier
        return acc

    def _impossible_sum(
        self,
        mode: str,
        coordinates: np.ndarray,
        count: int,
        counts: tuple[int, int, int, int],
        quantisation: Quantisation,
    ) -> str | None:
        """What in the unmasked sum no ``count`` honest inputs can add up to, or None.

        ``counts`` are the sum's ``(multiplier, clipped, unclipped, weight)``. Each honest
        client adds a multiplier of 1 to ``max_examples`` (1 under DP); every honest
        coordinate is ``m_i q(x_i)`` with ``q`` in ``[0, levels - 1]``, so the sum's lie in
        ``[0, multiplier (levels - 1)]``; each client adds at most ``size`` clipped
        coordinates, one unclipped bit and a weight of at most ``WEIGHT_SCALE``. An input
        outside these was crafted: decoding it would move the model (under DP, past the
        sensitivity the accountant assumes) with no error.
        """
        multiplier, clipped, unclipped, weight = counts
        if multiplier <= 0 or multiplier > count * (
            self.config.max_examples if mode == MODE_EXAMPLES else 1
        ):
            return f"the unmasked example count {multiplier} is impossible"
        size = coordinates.size
        most = multiplier * quantisation.top
        largest = int(coordinates.max()) if size else 0
        if largest > most:
            return (
                f"the unmasked sum is impossible: a coordinate is {largest}, above {most}, "
                f"the most {count} clients' quantised updates add up to"
            )
        bounds = [("clipped", clipped, count * size)]
        if mode == MODE_DP:
            bounds += [("unclipped", unclipped, count), ("weight", weight, count * WEIGHT_SCALE)]
        for name, value, limit in bounds:
            if value > limit:
                return (
                    f"the unmasked {name} count {value} is impossible (at most {limit} from "
                    f"{count} clients)"
                )
        return None

    @staticmethod
    def _note_dropped(
        fit_round: FitRound,
        report: SecAggReport,
        stage: str,
        before: Sequence[str],
        after: Sequence[str],
    ) -> None:
        gone = [u for u in before if u not in set(after)]
        if gone:
            report.dropped[stage] = gone

    def _require(
        self,
        fit_round: FitRound,
        report: SecAggReport,
        alive: Sequence[str],
        threshold: int,
        stage: str,
    ) -> None:
        if len(alive) < threshold:
            failure = self._failure(
                fit_round, report,
                f"{len(alive)} clients left after stage {stage!r}, {threshold} needed",
            )  # fmt: skip
            if report.unmasked:  # an earlier start reached unmasking: never run it again
                raise failure
            # before any masked input was sent: nothing released, the round is short
            raise ShortRound(str(failure), len(alive), threshold)

    @staticmethod
    def _failure(fit_round: FitRound, report: SecAggReport, reason: str) -> RoundFailure:
        def dropped(clients: Sequence[str]) -> str:
            reasons = {c: fit_round.failures.get(c, "no reply") for c in clients}
            if len(reasons) > LISTED_ONE_BY_ONE:  # each kind once (failures_summary)
                return failures_summary(reasons)
            return ", ".join(f"{c} ({r})" for c, r in reasons.items())

        stages = "; ".join(
            f"at {stage!r}: {dropped(clients)}" for stage, clients in report.dropped.items()
        )
        return RoundFailure(
            f"secure aggregation cannot unmask round {fit_round.server_round}: {reason}. "
            f"Dropped {stages or 'nobody'}"
        )


def _unholdable_secrets(
    dealers: Mapping[str, Sequence[str]],
    u2: Sequence[str],
    u3: Sequence[str],
    threshold: int,
) -> list[str]:
    """The clients whose secret unmasking needs (a survivor's self-mask seed, the masking key
    of a client that dropped after sharing) while fewer than ``threshold`` survivors hold
    shares of it: ``dealers`` maps each holder to the clients whose shares it kept."""
    survivors = set(u3)
    holders: dict[str, int] = defaultdict(int)
    for holder in u3:
        for owner in dealers.get(holder, ()):
            holders[owner] += 1
    needed = [*u3, *(v for v in u2 if v not in survivors)]  # as unmasking rebuilds them
    return sorted(owner for owner in needed if holders[owner] < threshold)


class _Restart(Exception):
    """A start of the round convicted ``culprits`` (excluded from the run already): start
    again over ``clients``, keeping exactly ``required`` to the masked input when set.

    Raised at unmasking for clients whose valid shares (each the one its owner dealt, by its
    digest) do not rebuild the secret the owner committed to - only the owner can have
    caused that, and the restart must sum the first start's other survivors. Raised at share
    delivery for a dealer of shares its holder cannot use, or a holder that complained
    falsely - before any input, so the restart may go on with whoever is still there."""

    def __init__(
        self, culprits: Mapping[str, str], clients: Sequence[str], required: frozenset[str] | None
    ) -> None:
        super().__init__(", ".join(culprits))
        self.culprits = dict(culprits)
        self.clients = list(clients)
        self.required = required


def _convict(
    fit_round: FitRound, report: SecAggReport, client: str, why: str, *, drop: bool = True
) -> str:
    """Exclude ``client`` from the run (and so from this round) for ``why``; the reason.
    ``drop=False``: a reply check drops it (see :func:`_convicted`)."""
    reason = f"secure aggregation: {why}"
    report.excluded[client] = reason
    fit_round.exclude(client, reason, drop=drop)
    return reason


def _convicted(fit_round: FitRound, report: SecAggReport, client: str, why: str) -> ClientFailure:
    """For a reply check: exclude ``client`` for ``why`` and return the failure to raise
    (which drops it from the round)."""
    return ClientFailure(client, _convict(fit_round, report, client, why, drop=False))


def _judge(
    fit_round: FitRound,
    report: SecAggReport,
    public: Mapping[str, Any],
    shared: Mapping[str, Any],
    complaints: Mapping[str, Sequence[str]],
    secrets: Mapping[str, bytes],
) -> None:
    """Convict (:func:`_convict`), for each complaint whose sealing secret came, the dealer
    or the complainer.

    The complainer revealed its sealing secret: checked against the key it advertised, it
    gives the pair's sealing key with the dealer's advertised key, and the coordinator opens
    the very bytes the dealer sent (:func:`open_dealt_shares`, the holder's own check). If
    they do not open, are no shares or miss the digests the dealer committed to, only the
    dealer can have done it (the coordinator relayed them untouched); if they pass, the
    complainer lied. Every revealed complaint so convicts someone.
    """
    r = fit_round.server_round
    for holder in sorted(secrets):
        accused, secret = complaints[holder], secrets[holder]
        if public_key_of(secret) != public[holder]["c_pk"]:
            _convict(
                fit_round, report, holder, f"complained about the shares of "
                f"{', '.join(accused)} but revealed a sealing secret that is not its own",
            )  # fmt: skip
            continue
        for dealer in accused:
            key = agree(secret, public[dealer]["c_pk"], pair_context("enc", r, dealer, holder))
            try:
                open_dealt_shares(
                    key,
                    shared[dealer]["sealed"][holder],
                    shared[dealer]["digests"][holder],
                    r,
                    dealer,
                    holder,
                )
            except ValueError as exc:
                if dealer not in report.excluded:
                    _convict(fit_round, report, dealer, f"the shares it sealed for {holder} {exc}")
                continue
            if holder not in report.excluded:
                _convict(
                    fit_round, report, holder, f"complained falsely about the shares of "
                    f"{dealer} (they open, are shares and match {dealer}'s digests)",
                )  # fmt: skip


class _Rebuild:
    """Rebuilds one start's secrets from the shares that came back, and convicts the owners
    whose shares do not rebuild what they committed to (collected in :attr:`culprits`,
    excluded from the run at once)."""

    def __init__(
        self,
        fit_round: FitRound,
        report: SecAggReport,
        public: Mapping[str, Any],
        shared: Mapping[str, Any],
        revealed: Mapping[str, Any],
        threshold: int,
    ) -> None:
        self.fit_round, self.report = fit_round, report
        self.public, self.shared, self.revealed = public, shared, revealed
        self.threshold = threshold
        self.culprits: dict[str, str] = {}

    def __call__(self, owner: str, kind: str) -> bytes | None:
        """``owner``'s masking key (kind "key") or self-mask seed ("seed") from the shares
        that match its digests; None (and ``owner`` among :attr:`culprits`) when they do not
        rebuild the secret it committed to (the key of its advertised public key, the seed
        of its seed commitment).

        Raises
        ------
        RoundFailure
            If fewer than ``t`` valid shares came back.
        """
        fit_round, report = self.fit_round, self.report
        field_name = "key_shares" if kind == "key" else "seed_shares"
        digests: Mapping[str, bytes] = self.shared[owner]["digests"]
        what = "masking key" if kind == "key" else "self-mask seed"
        valid: list[Share] = []
        holders: list[str] = []
        # only the owner's holders can have returned its shares (the unmasking check takes
        # exactly the shares each holder was asked for, of owners that dealt it shares): k
        # lookups an owner, not one per client of the round
        for holder in sorted(digests):
            reply = self.revealed.get(holder)
            share = None if reply is None else reply[field_name].get(owner)
            if share is None:
                continue
            digest = share_digest(fit_round.server_round, owner, holder, kind, share)
            if digest != committed_digest(digests[holder], kind):
                note = f"{holder} -> {owner} ({kind})"
                report.rejected_shares.append(note)
                log.warning(
                    "round %d: secure aggregation rejected a wrong share %s",
                    fit_round.server_round,
                    note,
                )
                # the holder checked this share against the same digest at delivery: only
                # the holder can have changed it since (the owner's input still unmasks)
                if holder not in report.excluded:
                    _convict(
                        fit_round, report, holder, f"returned a share of {owner}'s {what} "
                        "other than the one it was dealt (checked at delivery)",
                    )  # fmt: skip
                continue
            try:
                valid.append(Share.from_bytes(share))
            except ValueError:  # the bytes its owner committed to (by digest) are no share
                self._convict(owner, f"dealt a malformed share of its {what}")
                return None
            holders.append(holder)
        if len(valid) < self.threshold:
            wrong = [s for s in report.rejected_shares if s.endswith(f"-> {owner} ({kind})")]
            detail = f"; rejected wrong shares: {', '.join(wrong)}" if wrong else ""
            raise SecAggPlus._failure(
                fit_round, report,
                f"only {len(valid)} valid shares of {owner}'s {what} came back "
                f"({', '.join(holders) or 'none'}), {self.threshold} needed{detail}",
            )  # fmt: skip
        try:
            secret: bytes | None = combine_shares(valid, self.threshold, 32)
        except ValueError:  # the shares do not lie on one polynomial of a 32-byte secret
            secret = None
        if secret is None or not self._committed(owner, kind, secret):
            against = "its advertised public key" if kind == "key" else "its commitment"
            self._convict(
                owner, f"dealt shares of its {what} that do not rebuild it (checked against "
                f"{against})",
            )  # fmt: skip
            return None
        return secret

    def _convict(self, owner: str, why: str) -> None:
        self.culprits[owner] = _convict(self.fit_round, self.report, owner, why)

    def _committed(self, owner: str, kind: str, secret: bytes) -> bool:
        if kind == "key":
            return bool(public_key_of(secret) == self.public[owner]["s_pk"])
        commitment = seed_commitment(self.fit_round.server_round, owner, secret)
        return bool(commitment == self.shared[owner]["seed_commitment"])


# -- reply checks (each raises ClientFailure: the client is dropped with the reason) ----------
def _keys_checker(roster: bytes, ca: bytes | None, started: int) -> Any:
    """Two distinct 32-byte X25519 keys; in a signed round, signed by the client under a
    certificate from the CA (a client whose signature fails is dropped here, so honest
    clients never see a bad one and can treat any as the coordinator's doing)."""

    def check(client_id: str, reply: Any) -> dict[str, bytes]:
        if not isinstance(reply, dict):
            raise ClientFailure(client_id, "advertised no keys")
        for name in ("c_pk", "s_pk"):
            key = reply.get(name)
            if not isinstance(key, bytes) or len(key) != 32:
                raise ClientFailure(client_id, f"advertised no 32-byte X25519 {name}")
            try:  # a low-order point would make every neighbour's agreement fail
                agree(_PROBE, key, b"rengo-secagg|probe")
            except ValueError as exc:
                raise ClientFailure(client_id, f"advertised an unusable {name} ({exc})") from None
        if reply["c_pk"] == reply["s_pk"]:
            raise ClientFailure(client_id, "advertised the same key for sealing and masking")
        keys = {"c_pk": reply["c_pk"], "s_pk": reply["s_pk"]}
        if ca is None:
            return keys
        signature, certificate = reply.get("signature"), reply.get("certificate")
        if not isinstance(signature, bytes) or not isinstance(certificate, bytes):
            raise ClientFailure(client_id, "sent no signature and certificate in a signed round")
        signed_at = _fresh_time(client_id, reply, started)
        statement = keys_statement(roster, client_id, signed_at, keys["c_pk"], keys["s_pk"])
        try:
            verify_signed(ca, client_id, certificate, statement, signature)
        except SignatureError as exc:
            raise ClientFailure(
                client_id, f"its keys' signature does not check out: {exc}"
            ) from None
        return keys | {"signature": signature, "certificate": certificate, "signed_at": signed_at}

    return check


_PROBE = X25519PrivateKey.generate()
"""A throwaway key the coordinator agrees with each advertised key, to refuse unusable ones."""


def _fresh_time(client_id: str, reply: Mapping[str, Any], started: int) -> int:
    """The time a signed reply carries, if it lies within the round give or take a quarter
    of :data:`FRESHNESS_S`. The clients allow the whole window around their own (later)
    start, so a time that passes here passes at every honest client whose clock is within
    three quarters of the window of the coordinator's."""
    signed_at = reply.get("signed_at")
    margin = FRESHNESS_S // 4
    now = now_s()
    if not is_fresh(signed_at, started, now, margin):
        gap = (
            f" ({clock_gap(signed_at, now)} the coordinator's clock)"
            if isinstance(signed_at, int) and not isinstance(signed_at, bool)
            else ""
        )
        raise ClientFailure(
            client_id,
            f"its signature is dated {signed_at!r}{gap}, not within {margin} s of this round: "
            f"its clock is off, or the reply is replayed; {CLOCK_FIX}",
        )
    return signed_at


def _survivors_checker(
    roster: bytes, survivors: Sequence[str], ca: bytes, public: Mapping[str, Any], started: int
) -> Any:
    """A recent signature on U3 under the certificate the client advertised its keys with."""

    def check(client_id: str, reply: Any) -> dict[str, Any]:
        signature = reply.get("signature") if isinstance(reply, dict) else None
        if not isinstance(signature, bytes):
            raise ClientFailure(client_id, "sent no signature on the survivor set")
        signed_at = _fresh_time(client_id, reply, started)
        statement = survivors_statement(roster, signed_at, survivors)
        try:
            verify_signed(ca, client_id, public[client_id]["certificate"], statement, signature)
        except SignatureError as exc:
            raise ClientFailure(client_id, f"its survivor-set signature fails: {exc}") from None
        return {"signature": signature, "signed_at": signed_at}

    return check


def _share_checker(
    graph: Mapping[str, Sequence[str]], public: Mapping[str, Any], threshold: int
) -> Any:
    def check(client_id: str, reply: Any) -> dict[str, Any]:
        if not isinstance(reply, dict):
            raise ClientFailure(client_id, "sent no shares")
        sealed, digests = reply.get("sealed"), reply.get("digests")
        expected = {v for v in graph[client_id] if v in public}
        if not isinstance(sealed, dict) or set(sealed) != expected:
            raise ClientFailure(
                client_id, f"sent shares for {sorted(sealed or {})}, expected {sorted(expected)}"
            )
        if not isinstance(digests, dict) or set(digests) != expected:
            raise ClientFailure(client_id, "sent no digest for every share")
        for v in expected:
            if not isinstance(sealed[v], bytes):
                raise ClientFailure(client_id, f"the shares for {v} are not bytes")
            pair = digests[v]
            if not isinstance(pair, bytes) or len(pair) != DIGEST_BYTES * len(SHARE_KINDS):
                raise ClientFailure(
                    client_id, f"malformed share digests for {v} (not the two 32-byte digests)"
                )
        commitment = reply.get("seed_commitment")
        if not isinstance(commitment, bytes) or len(commitment) != 32:
            raise ClientFailure(client_id, "sent no 32-byte commitment to its self-mask seed")
        if len(expected) < threshold:
            raise ClientFailure(
                client_id, f"only {len(expected)} share holders, {threshold} needed"
            )
        return {"sealed": sealed, "digests": digests, "seed_commitment": commitment}

    return check


def _delivery_checker(dealers: Mapping[str, Sequence[str]], signed: bool) -> Any:
    """How many shares the client holds (all it was dealt), or the dealers of shares it
    could not use (among those that dealt it shares): a complaint in an unsigned round
    (``"complaints"``), a refusal in a signed one (``"refused"``)."""
    objection = "refused" if signed else "complaints"

    def check(client_id: str, reply: Any) -> dict[str, Any]:
        if not isinstance(reply, dict):
            raise ClientFailure(client_id, "sent no receipt for its shares")
        if "complaints" not in reply and "refused" not in reply:
            held = reply.get("held")
            if type(held) is not int or held != len(dealers[client_id]):
                raise ClientFailure(client_id, "did not receive the shares it was dealt")
            return {"held": held}
        accused = reply.get(objection)
        if (
            not isinstance(accused, list)
            or not accused
            or not all(isinstance(v, str) and v in dealers[client_id] for v in accused)
            or len(set(accused)) != len(accused)
        ):
            raise ClientFailure(
                client_id, f"sent a malformed objection to its shares (expected {objection!r} "
                "naming clients that dealt it shares)",
            )  # fmt: skip
        return {objection: accused}

    return check


def _reveal_checker(fit_round: FitRound, report: SecAggReport) -> Any:
    """A complainer's 32-byte sealing secret. An honest complainer kept it for this and
    sends it, so a reply that arrives without one convicts its sender (one that sends no
    reply may have lost its connection: it only sits the round out)."""

    def check(client_id: str, reply: Any) -> bytes:
        secret = reply.get("c_sk") if isinstance(reply, dict) else None
        if not isinstance(secret, bytes) or len(secret) != 32:
            why = "answered the request for the sealing secret behind its complaint without it"
            raise _convicted(fit_round, report, client_id, why)
        return secret

    return check


def _masked_checker(length: int, dtype: np.dtype[Any]) -> Any:
    def check(client_id: str, reply: Any) -> dict[str, Any]:
        masked = reply.get("masked") if isinstance(reply, dict) else None
        if not isinstance(masked, np.ndarray) or masked.ndim != 1:
            raise ClientFailure(client_id, "sent no masked vector")
        if masked.dtype != dtype or masked.size != length:
            raise ClientFailure(
                client_id,
                f"masked vector of {masked.size} x {masked.dtype}, expected {length} x {dtype}",
            )
        return {"masked": masked}

    return check


def _unmask_checker(
    fit_round: FitRound, report: SecAggReport, requests: Mapping[str, Mapping[str, Any]]
) -> Any:
    """70-byte shares, exactly those asked for: the masking-key shares of the dropped
    neighbours and the self-mask shares of the surviving ones. An honest client holds them
    all (it checked them at delivery) and returns them all - or, refusing, an error, which
    drops it - so any reply that arrives and is not exactly that convicts its sender (a
    client that withholds or garbles shares could otherwise fail every round it is in, as
    a holder that merely dropped)."""

    def check(client_id: str, reply: Any) -> dict[str, Any]:
        request = requests[client_id]
        asked = {
            "key_shares": set(request["dropped"]),
            "seed_shares": set(request["survivors"]) - {client_id},
        }
        problem = _unmask_problem(reply, asked)
        if problem is not None:
            raise _convicted(fit_round, report, client_id, problem)
        return dict(reply)

    return check


def _unmask_problem(reply: Any, asked: Mapping[str, set[str]]) -> str | None:
    """What is wrong with an unmasking reply, or None when it holds exactly the shares
    ``asked`` (field name -> neighbours), each 70 bytes."""
    if not isinstance(reply, dict):
        return f"sent {type(reply).__name__} instead of its shares to unmask"
    for name, wanted in asked.items():
        shares = reply.get(name)
        if not isinstance(shares, dict) or not all(
            isinstance(v, str) and isinstance(s, bytes) and len(s) == 70 for v, s in shares.items()
        ):
            return f"sent malformed {name} to unmask"
        if set(shares) != wanted:
            return f"returned {name} of {sorted(shares)} when asked for {sorted(wanted)}"
    return None


def _downlink(model: str | UpdateCompression) -> UpdateCompression:
    """The settings the global model travels down with, from ``SecAggPlus(model=...)``.

    Raises
    ------
    ConfigError
        For an unknown codec, or settings that compress the update too.
    """
    if isinstance(model, UpdateCompression):
        if model.enabled:
            raise ConfigError(
                f"SecAggPlus(model=...) compresses the model sent down; update compression "
                f"({model.describe()}) cannot run under secure aggregation, which quantises "
                "each update into its ring itself: give update='none'"
            )
        return model
    return UpdateCompression("none", model=model)  # type: ignore[arg-type]
