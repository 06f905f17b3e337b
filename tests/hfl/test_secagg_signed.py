"""Signed SecAgg+ (the malicious-coordinator variant, Bonawitz et al. CCS 2017 Section 6): an
honest run sums exactly as an unsigned one and survives dropouts at every stage, and a
coordinator that swaps keys, rigs the graph, lowers the threshold, downgrades the round or
tells clients different survivor sets is refused by the clients."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ConfigError, ProtocolError, RoundFailure
from rengo.core.messages import FitIns, FitResult
from rengo.crypto.signatures import (
    SignatureError,
    SigningIdentity,
    simulated_identities,
    verify_signed,
)
from rengo.hfl import FedAvg, SecAggMod, SecAggPlus, simulate
from rengo.hfl.mods.chain import ClientCall
from rengo.hfl.secagg.protocol import (
    ADVERTISE,
    CONSISTENCY,
    DELIVER,
    MASKED_INPUT,
    SHARE_KEYS,
    UNMASK,
    neighbour_graph,
    survivors_statement,
)

INIT = [np.zeros((4, 3)), np.zeros(3)]
N = 6
IDS = [str(i) for i in range(N)]


@functools.cache
def _pki() -> tuple[bytes, Mapping[str, SigningIdentity]]:
    return simulated_identities(IDS)


def _run(client_fn: Any, workflow: Any, mods: list[Any], rounds: int = 2, **kw: Any) -> Any:
    return simulate(
        client_fn, N, FedAvg(min_fit_clients=kw.pop("min_fit", N)), INIT, rounds, seed=3,
        workflow=workflow, client_mods=mods, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("neighbours", [0, 4])
def test_a_signed_round_sums_exactly_as_an_unsigned_one(
    logistic_client_fn: Any, neighbours: int
) -> None:
    ca, identities = _pki()
    plain = _run(logistic_client_fn, SecAggPlus(neighbours=neighbours), [])
    workflow = SecAggPlus(neighbours=neighbours, signed=True, ca=ca)
    signed = _run(logistic_client_fn, workflow, [SecAggMod(identities)])
    assert workflow.last.signed and all(not r.failures for r in signed.rounds)
    for a, b in zip(signed.parameters, plain.parameters, strict=True):
        assert a.tobytes() == b.tobytes()


def test_signed_rounds_give_the_same_result_on_the_process_executor(
    logistic_client_fn: Any,
) -> None:
    ca, identities = _pki()
    runs = [
        _run(
            logistic_client_fn, SecAggPlus(neighbours=4, signed=True, ca=ca),
            [SecAggMod(identities)], executor=executor, workers=2,
        ).parameters
        for executor in ("serial", "process")
    ]  # fmt: skip
    for a, b in zip(*runs, strict=True):
        assert a.tobytes() == b.tobytes()


class SignedDropAt(SecAggMod):
    """A signing secagg mod whose clients fail at one stage each (a disconnect)."""

    def __init__(self, identities: Mapping[str, SigningIdentity], drops: dict[str, str]) -> None:
        super().__init__(identities)
        self.drops = drops

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if self.drops.get(call.client_id) == call.key:
            raise ConnectionError(f"gone at {call.key}")
        return super().__call__(call, call_next)


@pytest.mark.parametrize("stage", [SHARE_KEYS, DELIVER, MASKED_INPUT, CONSISTENCY, UNMASK])
def test_signed_rounds_recover_dropouts_at_every_stage(logistic_client_fn: Any, stage: str) -> None:
    ca, identities = _pki()
    drops = {"1": stage}
    workflow = SecAggPlus(quantisation_bits=20, signed=True, ca=ca)
    signed = _run(logistic_client_fn, workflow, [SignedDropAt(identities, drops)], 1, min_fit=3)
    # an unsigned round with the client gone where its input is in or out alike
    unsigned, plain_stage = (
        SecAggPlus(quantisation_bits=20),
        UNMASK if stage == CONSISTENCY else stage,
    )
    expected = _run(
        logistic_client_fn, unsigned, [SignedDropAt({}, {"1": plain_stage})], 1, min_fit=3
    )
    for a, b in zip(signed.parameters, expected.parameters, strict=True):
        assert a.tobytes() == b.tobytes()
    assert workflow.last.dropped == {stage: ["1"]}


def test_a_signing_client_refuses_an_unsigned_round(logistic_client_fn: Any) -> None:
    _, identities = _pki()
    with pytest.raises(RoundFailure, match="refusing an unsigned secure aggregation round"):
        _run(logistic_client_fn, SecAggPlus(), [SecAggMod(identities)], 1)


def test_a_signed_round_without_the_federation_ca_is_a_config_error(
    logistic_client_fn: Any,
) -> None:
    _, identities = _pki()
    with pytest.raises(ConfigError, match=r"pass SecAggPlus\(\.\.\., ca=ca_pem\)"):
        _run(logistic_client_fn, SecAggPlus(signed=True), [SecAggMod(identities)], 1)


def test_a_client_without_a_signing_identity_cannot_join_a_signed_round(
    logistic_client_fn: Any,
) -> None:
    ca, _ = _pki()
    with pytest.raises(RoundFailure, match="has no signing identity"):
        _run(logistic_client_fn, SecAggPlus(signed=True, ca=ca), [], 1)


def test_a_client_certified_by_another_ca_is_dropped_naming_why(logistic_client_fn: Any) -> None:
    ca, identities = _pki()
    _, strangers = simulated_identities(["2"], ca_name="another CA")
    workflow = SecAggPlus(signed=True, ca=ca)
    history = _run(
        logistic_client_fn, workflow, [SecAggMod({**identities, "2": strangers["2"]})], 1,
        min_fit=3,
    )  # fmt: skip
    assert workflow.last.dropped == {ADVERTISE: ["2"]}
    assert "not issued by the federation's CA" in history.rounds[0].failures["2"]


# -- a coordinator that deviates, played by hand against the clients' mods ------------------


MASKED_SETTINGS = {
    "fit": FitIns([np.zeros(3)], {}), "ring_bits": 32, "mode": "examples", "clip_range": 1.0,
    "quantisation_bits": 16, "max_examples": 10,
}  # fmt: skip
"""A masked-input message's settings (the update is the hand round's fixed one)."""


class HandRound:
    """Drive the signing secagg mods of six clients through a round by hand (the coordinator's
    part), so a test can deviate at any stage; complete graph, t = 3 of 5."""

    def __init__(self, degree: int = N - 1, threshold: int = 3, server_round: int = 1) -> None:
        self.ca, identities = _pki()
        self.mod = SecAggMod(identities)
        self.states: dict[str, dict[str, Any]] = {u: {} for u in IDS}
        self.round = server_round
        self.epoch = int(time.time() * 1000)  # this start of the round
        self.graph = neighbour_graph(IDS, degree, server_round)
        self.degree, self.threshold = degree, threshold
        self.public: dict[str, Any] = {}
        self.shared: dict[str, Any] = {}

    def call(self, u: str, key: str, message: dict[str, Any]) -> Any:
        def train(call: ClientCall) -> FitResult:
            return FitResult([np.full(3, 0.1 * (int(u) + 1))], 2, {})

        return self.mod(ClientCall(u, key, {"round": self.round, **message}, self.states[u]), train)

    def advertise_message(self, u: str) -> dict[str, Any]:
        points = {v: i + 1 for i, v in enumerate(IDS)}
        return {
            "threshold": self.threshold, "neighbours": self.graph[u],
            "points": {v: points[v] for v in (u, *self.graph[u])}, "signed": True,
            "clients": IDS, "degree": self.degree, "epoch": self.epoch,
        }  # fmt: skip

    def advertise(self) -> None:
        self.public = {u: self.call(u, ADVERTISE, self.advertise_message(u)) for u in IDS}

    def share_keys(self) -> None:
        self.shared = {
            u: self.call(u, SHARE_KEYS, {"keys": {v: self.public[v] for v in self.graph[u]}})
            for u in IDS
        }

    def deliver(self, u: str, dealers: Sequence[str] | None = None) -> Any:
        """Relay to ``u`` the shares its ``dealers`` (default: all its neighbours) sealed."""
        dealers = self.graph[u] if dealers is None else dealers
        return self.call(u, DELIVER, {
            "sealed": {v: self.shared[v]["sealed"][u] for v in dealers},
            "digests": {v: self.shared[v]["digests"][u] for v in dealers},
        })  # fmt: skip

    def masked_input(self) -> None:
        for u in IDS:
            self.deliver(u)
            self.call(u, MASKED_INPUT, MASKED_SETTINGS)

    def through_masked_input(self) -> None:
        """The first three stages, honestly."""
        self.advertise()
        self.share_keys()
        self.masked_input()

    def unmask_message(
        self, u: str, survivors: list[str], signed: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """The unmask stage for ``u``, relaying the consistency replies ``signed``."""
        return {
            "dropped": [v for v in self.graph[u] if v not in survivors],
            "survivors": [v for v in self.graph[u] if v in survivors],
            "survivor_count": len(survivors),
            "signatures": {w: reply["signature"] for w, reply in signed.items()},
            "signed_at": {w: reply["signed_at"] for w, reply in signed.items()},
            "certificates": {w: self.public[w]["certificate"] for w in signed},
        }


def test_a_coordinator_that_swaps_a_clients_keys_is_refused() -> None:
    hand = HandRound()
    hand.advertise()
    forged = dict(hand.public["1"], c_pk=hand.public["2"]["c_pk"])  # keys it could open
    keys = {v: hand.public[v] for v in hand.graph["0"]} | {"1": forged}
    with pytest.raises(ProtocolError, match="the keys relayed for client '1' are not signed by it"):
        hand.call("0", SHARE_KEYS, {"keys": keys})


def test_keys_signed_for_another_round_are_refused() -> None:
    earlier, now = HandRound(server_round=1), HandRound(server_round=2)
    earlier.advertise()
    now.advertise()
    replayed = {v: earlier.public[v] for v in now.graph["0"]}  # round 1's signed keys again
    with pytest.raises(ProtocolError, match="not signed by it"):
        now.call("0", SHARE_KEYS, {"keys": replayed})


def test_clients_told_different_rosters_refuse_each_others_keys() -> None:
    """A coordinator that gives client 1 another client list (hence another graph, in which
    it could surround client 1's neighbours with accomplices) is caught by client 0: 1's
    keys are signed over 1's roster, not 0's."""
    hand = HandRound()
    hand.advertise()
    roster = [*IDS, "6"]
    graph = neighbour_graph(roster, N, 1)  # complete on 7: degree 6, threshold 4
    points = {v: i + 1 for i, v in enumerate(roster)}
    hand.states["1"] = {}
    hand.public["1"] = hand.call("1", ADVERTISE, hand.advertise_message("1") | {
        "clients": roster, "neighbours": graph["1"], "degree": N, "threshold": 4,
        "points": {v: points[v] for v in ("1", *graph["1"])},
    })  # fmt: skip
    with pytest.raises(ProtocolError, match="relayed for client '1' are not signed by it"):
        hand.call("0", SHARE_KEYS, {"keys": {v: hand.public[v] for v in hand.graph["0"]}})


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("neighbours", ["1", "2", "3"], "not the round's public graph"),
        ("threshold", 2, "a threshold of 2 of 5 neighbours"),
        ("degree", 2, "not the round's public graph"),
        ("clients", ["0", "1"], "malformed client list"),
    ],
)
def test_a_rigged_graph_or_threshold_is_refused(field: str, value: Any, match: str) -> None:
    hand = HandRound()
    message = hand.advertise_message("0") | {field: value}
    with pytest.raises(ProtocolError, match=match):
        hand.call("0", ADVERTISE, message)


def test_a_client_signs_one_survivor_set_a_round() -> None:
    hand = HandRound()
    hand.through_masked_input()
    hand.call("0", CONSISTENCY, {"survivors": IDS})
    with pytest.raises(ProtocolError, match="refusing to sign a second survivor set"):
        hand.call("0", CONSISTENCY, {"survivors": IDS[:-1]})


def test_a_split_view_of_the_survivors_never_yields_both_secrets_of_a_client() -> None:
    """The attack the consistency check stops: tell clients 0-3 that client 5 survived (to get
    its self-mask shares) and client 4 that it dropped (to get its masking-key share). Each
    set is signed only by the clients told it, so client 4 lacks t = 3 signatures from its
    neighbours' neighbours and refuses: the coordinator gets one kind of share of 5 only."""
    hand = HandRound()
    hand.through_masked_input()
    with_5, without_5 = IDS, IDS[:5]
    views = {u: with_5 if u in "0123" else without_5 for u in IDS[:5]}
    signatures = {u: hand.call(u, CONSISTENCY, {"survivors": views[u]}) for u in views}
    revealed = {}
    for u, view in views.items():
        same_view = {w: s for w, s in signatures.items() if views[w] == view}
        message = hand.unmask_message(u, view, same_view)
        if u == "4":
            with pytest.raises(ProtocolError, match="only 1 clients signed the survivor set"):
                hand.call(u, UNMASK, message)
        else:
            revealed[u] = hand.call(u, UNMASK, message)
    assert all("5" not in r["key_shares"] and "5" in r["seed_shares"] for r in revealed.values())


def test_an_honest_consistency_check_lets_every_client_unmask() -> None:
    hand = HandRound()
    hand.through_masked_input()
    signatures = {u: hand.call(u, CONSISTENCY, {"survivors": IDS}) for u in IDS}
    for u in IDS:
        reply = hand.call(u, UNMASK, hand.unmask_message(u, IDS, signatures))
        assert set(reply["seed_shares"]) == set(hand.graph[u]) and not reply["key_shares"]


def test_unmask_lists_that_contradict_the_signed_set_are_refused() -> None:
    hand = HandRound()
    hand.through_masked_input()
    signatures = {u: hand.call(u, CONSISTENCY, {"survivors": IDS}) for u in IDS}
    message = hand.unmask_message("0", IDS, signatures) | {"dropped": ["5"]}
    message["survivors"].remove("5")
    with pytest.raises(ProtocolError, match="differ from the survivor set this client signed"):
        hand.call("0", UNMASK, message)


def test_a_signature_checks_only_for_its_signer_message_and_ca() -> None:
    ca, identities = _pki()
    other_ca, _ = simulated_identities(["x"], ca_name="another CA")
    signer = identities["1"]
    signature = signer.sign(b"survivors")
    verify_signed(ca, "1", signer.cert_pem, b"survivors", signature)
    for name, message, anchor in [
        ("2", b"survivors", ca),  # someone else's name on 1's certificate
        ("1", b"survivors!", ca),  # another message
        ("1", b"survivors", other_ca),  # a certificate the federation CA did not issue
    ]:
        with pytest.raises(SignatureError):
            verify_signed(anchor, name, signer.cert_pem, message, signature)


def test_an_identity_refuses_a_key_that_is_not_its_certificates() -> None:
    _, identities = _pki()
    one, two = identities["1"], identities["2"]
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        SigningIdentity.from_pem(one.cert_pem, two.key_pem, one.ca_pem)
    assert SigningIdentity.from_pem(one.cert_pem, one.key_pem, one.ca_pem) == one


def test_keys_from_another_start_of_the_same_round_are_refused() -> None:
    """Round 1 started again (or in another run with the same clients) has a new epoch, so
    keys signed for the first start (whose masking keys the coordinator may have rebuilt
    then) do not pass for the second's."""
    earlier, now = HandRound(), HandRound()
    now.epoch = earlier.epoch + 1
    earlier.advertise()
    now.advertise()
    replayed = {v: earlier.public[v] for v in now.graph["0"]}
    with pytest.raises(ProtocolError, match="not signed by it"):
        now.call("0", SHARE_KEYS, {"keys": replayed})


def test_a_round_whose_epoch_is_not_fresh_is_refused() -> None:
    hand = HandRound()
    hand.epoch += 3_600_000  # starting in an hour, by the coordinator's word
    with pytest.raises(ProtocolError, match=r"epoch .* not within 120 s of this client's clock"):
        hand.call("0", ADVERTISE, hand.advertise_message("0"))


def test_a_restarted_client_starts_no_round_from_before_its_restart() -> None:
    """A coordinator could end the run, wait for a supervisor to restart the party (which
    forgets its epochs) and start the same round again: the party refuses rounds older
    than itself."""
    hand = HandRound()
    hand.epoch -= 60_000  # a minute ago: fresh, but before this client's mod was made
    with pytest.raises(ProtocolError, match="it started before this client did"):
        hand.call("0", ADVERTISE, hand.advertise_message("0"))


def test_a_client_minutes_behind_the_coordinator_is_told_by_how_much_and_the_fix() -> None:
    """A hospital VM 7 minutes behind the coordinator refuses every signed round: the error
    says the clocks differ, by how much, and what to do, not only 'not within 120 s'."""
    hand = HandRound()
    hand.epoch += 420_000  # the coordinator's clock reads 7 minutes later than this VM's
    with pytest.raises(ProtocolError) as caught:
        hand.call("0", ADVERTISE, hand.advertise_message("0"))
    message = str(caught.value)
    assert re.search(r"coordinator's clock at the round's start was 4[12]\d s ahead of", message)
    assert "NTP" in message


def test_a_coordinator_behind_a_restarted_party_is_named_as_a_possible_cause() -> None:
    hand = HandRound()
    hand.epoch -= 30_000  # a coordinator whose clock is 30 s behind this party's
    with pytest.raises(ProtocolError) as caught:
        hand.call("0", ADVERTISE, hand.advertise_message("0"))
    message = str(caught.value)
    assert "it started before this client did" in message
    assert re.search(r"was (29|30|31) s behind this client's now", message)
    assert "coordinator's clock is behind this machine's" in message and "NTP" in message


def test_stale_survivor_set_signatures_do_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    hand = HandRound()
    hand.through_masked_input()
    signed = {u: hand.call(u, CONSISTENCY, {"survivors": IDS}) for u in IDS}
    # the same signatures, but as if made for this roster an hour ago (in another run)
    an_hour_ago = int(time.time()) - 3600
    stale = {}
    for u in IDS:
        statement = survivors_statement(hand.states[u]["secagg"]["roster"], an_hour_ago, IDS)
        stale[u] = {"signature": _pki()[1][u].sign(statement), "signed_at": an_hour_ago}
    with pytest.raises(ProtocolError, match="refusing to unmask: only 0 clients signed"):
        hand.call("0", UNMASK, hand.unmask_message("0", IDS, stale))
    assert hand.call("1", UNMASK, hand.unmask_message("1", IDS, signed))["seed_shares"]


class ClockOff(SecAggMod):
    """Client 2's signed keys carry a time an hour off."""

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        reply = super().__call__(call, call_next)
        if call.key == ADVERTISE and call.client_id == "2":
            reply["signed_at"] -= 3600
        return reply


def test_a_client_whose_signature_is_stale_is_dropped_naming_why(
    logistic_client_fn: Any,
) -> None:
    ca, identities = _pki()
    workflow = SecAggPlus(signed=True, ca=ca)
    history = _run(logistic_client_fn, workflow, [ClockOff(identities)], 1, min_fit=3)
    assert workflow.last.dropped == {ADVERTISE: ["2"]}
    assert "not within 30 s of this round" in history.rounds[0].failures["2"]
    # by how much its clock is off, and the fix
    assert re.search(r"\(360\d s behind the coordinator's clock\)", history.rounds[0].failures["2"])
    assert "NTP" in history.rounds[0].failures["2"]


# -- findings of a review that played the coordinator -----------------------------------------


def test_a_client_sends_no_masked_input_under_fewer_than_t_pairwise_masks() -> None:
    """Withholding every neighbour's shares would leave the client's input under its
    self-mask alone, which the round rebuilds: the coordinator would read the input."""
    for dealers in ([], ["1", "2"]):
        hand = HandRound()
        hand.advertise()
        hand.share_keys()
        with pytest.raises(ProtocolError, match=r"shares from only \d neighbours arrived, 3"):
            hand.deliver("0", dealers)


@pytest.mark.parametrize(
    ("pins", "match"),
    [
        ({"min_threshold": 0.67}, "a threshold of 3 of 5 neighbours .* requires at least 4"),
        ({"min_neighbours": 8}, "5 neighbours, this client requires 8"),
    ],
)
def test_a_client_refuses_a_degree_or_threshold_below_its_own_pins(
    pins: dict[str, Any], match: str
) -> None:
    hand = HandRound()
    hand.mod = SecAggMod(_pki()[1], **pins)
    with pytest.raises(ProtocolError, match=match):
        hand.call("0", ADVERTISE, hand.advertise_message("0"))


def test_keys_whose_boundary_was_moved_are_refused_as_malformed() -> None:
    hand = HandRound()
    hand.advertise()
    one = dict(hand.public["1"])
    one["c_pk"], one["s_pk"] = one["c_pk"][:-1], one["c_pk"][-1:] + one["s_pk"]  # same bytes
    keys = {v: hand.public[v] for v in hand.graph["0"]} | {"1": one}
    with pytest.raises(ProtocolError, match="malformed keys relayed for '1'"):
        hand.call("0", SHARE_KEYS, {"keys": keys})


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (ADVERTISE, {"threshold": 3, "signed": True}),  # no neighbours, points...
        (SHARE_KEYS, {"keys": {v: "not keys" for v in IDS[1:]}}),
        (CONSISTENCY, {"survivors": 5}),
    ],
)
def test_a_malformed_coordinator_message_is_a_refusal_not_a_crash(
    stage: str, message: dict[str, Any]
) -> None:
    hand = HandRound()
    if stage != ADVERTISE:
        hand.through_masked_input() if stage == CONSISTENCY else hand.advertise()
    with pytest.raises(ProtocolError, match=re.escape(f"refusing a malformed '{stage}' message")):
        hand.call("0", stage, message)


def test_malformed_signatures_at_unmasking_are_a_refusal_not_a_crash() -> None:
    hand = HandRound()
    hand.through_masked_input()
    signed = {u: hand.call(u, CONSISTENCY, {"survivors": IDS}) for u in IDS}
    message = hand.unmask_message("0", IDS, signed) | {"signed_at": ["not", "a", "mapping"]}
    with pytest.raises(ProtocolError, match=re.escape(f"refusing a malformed {UNMASK!r} message")):
        hand.call("0", UNMASK, message)


class LowOrderKey(SecAggMod):
    """Client 2 advertises the all-zero X25519 key (a low-order point) for sealing."""

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        reply = super().__call__(call, call_next)
        if call.key == ADVERTISE and call.client_id == "2":
            reply["c_pk"] = bytes(32)
        return reply


def test_a_low_order_key_is_dropped_by_the_coordinator_not_passed_to_neighbours(
    logistic_client_fn: Any,
) -> None:
    workflow = SecAggPlus()
    history = _run(logistic_client_fn, workflow, [LowOrderKey()], 1, min_fit=3)
    assert workflow.last.dropped == {ADVERTISE: ["2"]}
    assert "advertised an unusable c_pk" in history.rounds[0].failures["2"]


def test_a_relayed_low_order_key_is_a_refusal_naming_its_owner() -> None:
    hand = HandRound()
    hand.mod = SecAggMod()  # unsigned: only the key's usability stands in the way
    message = hand.advertise_message("0")
    for u in IDS:
        hand.public[u] = hand.call(u, ADVERTISE, {k: message[k] for k in ("threshold",)} | {
            "neighbours": hand.graph[u], "points": hand.advertise_message(u)["points"]
        })  # fmt: skip
    keys = {v: hand.public[v] for v in hand.graph["0"]} | {
        "1": dict(hand.public["1"], c_pk=bytes(32))
    }
    with pytest.raises(ProtocolError, match="client '1''s sealing key is unusable"):
        hand.call("0", SHARE_KEYS, {"keys": keys})


def test_a_party_that_requires_signed_rounds_needs_a_certificate() -> None:
    from rengo.deploy import run_party
    from rengo.transport.grpc_security import PartyCredentials

    with pytest.raises(ConfigError, match="requires signed secure aggregation"):
        run_party(
            "127.0.0.1:1", "a", lambda cid: None, PartyCredentials(insecure=True),  # type: ignore[arg-type,return-value]
            require_signed_secagg=True,
        )  # fmt: skip


def test_a_coordinator_alone_cannot_split_the_survivors_across_neighbourhoods() -> None:
    """A second review's attack on per-neighbourhood checks: client 0 masks with 1, 2, 3
    only; 1-3 are told U3 = {0,1,2,3} (to reveal 0's self-mask seed) and 0, 4, 5 are told
    U3 = {0,4,5} (to reveal the masking keys of 1, 2, 3). Each group had t = 3 signers in
    the neighbourhoods it checked; with the roster-wide quorum T = 4 of 6, neither does."""
    hand = HandRound()
    hand.advertise()
    hand.share_keys()
    held = {"0": "123", "1": "045", "2": "045", "3": "045", "4": "123", "5": "123"}
    for u in IDS:
        hand.deliver(u, list(held[u]))
        hand.call(u, MASKED_INPUT, MASKED_SETTINGS)
    views = {u: ["0", "1", "2", "3"] if u in "123" else ["0", "4", "5"] for u in IDS}
    signed = {u: hand.call(u, CONSISTENCY, {"survivors": views[u]}) for u in IDS}
    for u in IDS:
        same = {w: reply for w, reply in signed.items() if views[w] == views[u]}
        message = hand.unmask_message(u, views[u], same) | {
            "dropped": [v for v in held[u] if v not in views[u]],
            "survivors": [v for v in held[u] if v in views[u]],
        }
        with pytest.raises(ProtocolError, match=r"only 3 clients signed .* 4 needed"):
            hand.call(u, UNMASK, message)


def test_a_malformed_masked_input_message_is_refused_before_training() -> None:
    hand = HandRound()
    hand.advertise()
    hand.share_keys()
    hand.deliver("0")
    message = MASKED_SETTINGS | {"ring_bits": -1}
    with pytest.raises(ProtocolError, match=r"malformed 'secagg.masked_input' .*ring_bits -1"):
        hand.mod(ClientCall("0", MASKED_INPUT, {"round": 1, **message}, hand.states["0"]), None)
    with pytest.raises(ProtocolError, match=r"malformed 'secagg.advertise'"):
        hand.call("1", ADVERTISE, hand.advertise_message("1") | {"degree": float("inf")})


def test_a_client_does_not_start_the_same_signed_round_twice() -> None:
    """A third review's attack: practice runs of the same round (the roster repeats) would
    collect a fresh survivor-set signature from every client per run, enough for quorums on
    different sets in the real one. A client starts a round only at a later epoch."""
    hand = HandRound()
    hand.through_masked_input()
    hand.call("0", CONSISTENCY, {"survivors": IDS})
    with pytest.raises(ProtocolError, match="already started one at epoch"):
        hand.call("0", ADVERTISE, hand.advertise_message("0"))
    other_round = HandRound(server_round=2)
    other_round.states["0"] = hand.states["0"]  # the same client, its next round: fine
    assert "signature" in other_round.call("0", ADVERTISE, other_round.advertise_message("0"))


def test_an_odd_degree_that_builds_a_smaller_graph_is_refused() -> None:
    """With 7 clients, degree 5 builds a graph of degree 4 (2 on each side of a cycle);
    a quorum computed from the announced 5 would be one signer too small."""
    roster = [str(i) for i in range(7)]
    graph = neighbour_graph(roster, 5, 1)
    points = {v: i + 1 for i, v in enumerate(roster)}
    message = {
        "round": 1, "threshold": 3, "neighbours": graph["0"], "signed": True,
        "points": {v: points[v] for v in ("0", *graph["0"])}, "clients": roster, "degree": 5,
        "epoch": int(time.time() * 1000),
    }  # fmt: skip
    _, identities = simulated_identities(["0"])
    with pytest.raises(ProtocolError, match="degree 5 makes a graph of degree 4"):
        SecAggMod(identities)(ClientCall("0", ADVERTISE, message, {}), None)


def test_signed_statements_tell_every_list_of_names_apart() -> None:
    from rengo.hfl.secagg.protocol import encode_names, roster_digest

    assert encode_names(["a\x00b"]) != encode_names(["a", "b"])
    assert roster_digest(1, 7, ["a\x00b"], 2, 2) != roster_digest(1, 7, ["a", "b"], 2, 2)
    assert survivors_statement(b"r", 5, ["a", "b"]) == survivors_statement(b"r", 5, ["b", "a"])


def test_the_coordinators_own_certificate_does_not_pass_for_a_client(tmp_path: Any) -> None:
    """A fifth review's attack: the coordinator's server certificate comes from the same CA;
    accepted as a party's, the coordinator would count as one colluding client for free."""
    from rengo.transport.certs import init_certificates

    paths = init_certificates(tmp_path, ["alice"])
    ca = paths.ca_cert.read_bytes()
    server = SigningIdentity("coordinator", paths.server_cert.read_bytes(),
                             paths.server_key.read_bytes(), ca)  # fmt: skip
    signature = server.sign(b"survivors")
    with pytest.raises(SignatureError, match="not a party's"):
        verify_signed(ca, "coordinator", server.cert_pem, b"survivors", signature)
    with pytest.raises(ConfigError, match="not a party's"):
        SigningIdentity.from_pem(server.cert_pem, server.key_pem, ca)
    cert, key = paths.parties["alice"]
    alice = SigningIdentity.from_pem(cert.read_bytes(), key.read_bytes(), ca)
    verify_signed(ca, "alice", alice.cert_pem, b"survivors", alice.sign(b"survivors"))


# -- revoked certificates ---------------------------------------------------------------------


def _federation(tmp_path: Any) -> tuple[bytes, Any, dict[str, SigningIdentity]]:
    """A real federation folder with one certificate per client, the CA's revocation list,
    and each client's identity following that list."""
    from rengo.transport.certs import REVOKED_FILE, init_certificates
    from rengo.transport.revocation import RevocationList

    folder = tmp_path / "fed"
    init_certificates(folder, [f"c{i}" for i in range(N)])
    ca = (folder / "ca.pem").read_bytes()
    revocations = RevocationList(folder / REVOKED_FILE, ca)
    identities = {
        f"c{i}": SigningIdentity.from_pem(
            (folder / "parties" / f"c{i}.pem").read_bytes(),
            (folder / "parties" / f"c{i}.key").read_bytes(),
            ca,
            revocations,
        )
        for i in range(N)
    }
    return ca, folder, identities


def test_clients_refuse_a_round_in_which_the_coordinator_relays_a_revoked_certificate(
    tmp_path: Any,
) -> None:
    from rengo.transport.certs import revoke_party

    ca, folder, identities = _federation(tmp_path)
    signer = identities["c2"]
    statement = b"keys"
    signature = signer.sign(statement)
    identities["c1"].verify("c2", signer.cert_pem, statement, signature)  # before
    revoke_party(folder, "c2")
    with pytest.raises(
        SignatureError, match=r"certificate of 'c2' \(serial [0-9a-f]+\) is revoked"
    ):
        identities["c1"].verify("c2", signer.cert_pem, statement, signature)
    verify_signed(ca, "c2", signer.cert_pem, statement, signature)  # no list: not checked
    with pytest.raises(ConfigError, match="is revoked"):
        SigningIdentity.from_pem(signer.cert_pem, signer.key_pem, ca, identities["c1"].revocations)


def test_a_signed_round_with_a_revoked_client_is_refused_by_the_others(
    tmp_path: Any, logistic_client_fn: Any
) -> None:
    from rengo.transport.certs import revoke_party

    ca, folder, identities = _federation(tmp_path)
    run = functools.partial(
        simulate, lambda cid: logistic_client_fn(cid[1:]), list(identities),
        FedAvg(min_fit_clients=N), INIT, 1, seed=3, client_mods=[SecAggMod(identities)],
    )  # fmt: skip
    assert not run(workflow=SecAggPlus(signed=True, ca=ca)).rounds[0].failures
    revoke_party(folder, "c2")  # the coordinator does not check; every other client does
    with pytest.raises(RoundFailure) as failure:
        run(workflow=SecAggPlus(signed=True, ca=ca))
    refusals = re.findall(r"the keys relayed for client 'c2' are not signed by it \(the "
                          r"certificate of 'c2' \(serial [0-9a-f]+\) is revoked\)",
                          str(failure.value))  # fmt: skip
    assert len(refusals) >= N - 2, str(failure.value)
