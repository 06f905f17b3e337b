"""SecAgg+ against a client that seals garbage for its neighbours, and one that lies about it.

Before share delivery existed, a client dealt shares it could not open refused the round, so
one client sealing garbage for every neighbour made all of them drop: with the complete graph
(the default) the round failed, every round it was sampled in, and nobody was named. Now the
holder complains and reveals its sealing secret; the coordinator opens the same bytes and
convicts the dealer, or the complainer when they open and match the dealer's digests; the
round starts again without the culprit, before any input is sent under the revealed keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_secagg_misdealing import Gone

from rengo.core.errors import RoundFailure
from rengo.crypto.signatures import SigningIdentity, simulated_identities
from rengo.hfl import FedAvg, SecAggMod, SecAggPlus, simulate
from rengo.hfl.mods.chain import ClientCall
from rengo.hfl.secagg.client_mod import STATE_KEY
from rengo.hfl.secagg.protocol import ADVERTISE, DELIVER, MASKED_INPUT, REVEAL, SHARE_KEYS

INIT = [np.zeros((4, 3)), np.zeros(3)]
N = 6
IDS = [str(i) for i in range(N)]


class Deviant(SecAggMod):
    """The secagg mod, installed in its place; records every stage call in order. On the
    first start of the round: ``garbler`` seals garbage for the ``victims`` (None: every
    neighbour); ``liar`` complains about ``accused`` although its shares are fine, and when
    asked answers (``answer``) with its own sealing secret ("secret"), 32 other bytes
    ("wrong"), a malformed reply ("malformed") or nothing, dropping ("none")."""

    def __init__(
        self,
        garbler: str | None = None,
        victims: tuple[str, ...] | None = None,
        liar: str | None = None,
        accused: str = "0",
        answer: str = "secret",
        identities: dict[str, SigningIdentity] | None = None,
    ) -> None:
        if identities:
            super().__init__(identities)
        self.garbler, self.victims = garbler, victims
        self.liar, self.accused, self.answer = liar, accused, answer
        self.calls: list[tuple[str, str]] = []
        self.starts: dict[str, int] = {}

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        cid = call.client_id
        self.calls.append((cid, call.key))
        if call.key == ADVERTISE:
            self.starts[cid] = self.starts.get(cid, 0) + 1
        first = self.starts.get(cid) == 1
        if call.key == DELIVER and cid == self.liar and first:
            return {"complaints": [self.accused]}
        if call.key == REVEAL and cid == self.liar and first:
            if self.answer == "none":
                raise ConnectionError("gone before revealing")
            if self.answer == "malformed":
                return {"c_sk": b"x"}
            return {"c_sk": bytes(32) if self.answer == "wrong" else call.state[STATE_KEY]["c_sk"]}
        reply = super().__call__(call, call_next)
        if call.key == SHARE_KEYS and cid == self.garbler and first:
            for v, sealed in reply["sealed"].items():
                if self.victims is None or v in self.victims:
                    reply["sealed"][v] = sealed[:-1] + bytes([sealed[-1] ^ 1])
        return reply


def _run(client_fn: Any, workflow: Any, mod: SecAggMod | None) -> Any:
    return simulate(
        client_fn, N, FedAvg(min_fit_clients=3), INIT, 1, seed=3, workflow=workflow,
        client_mods=[mod] if mod is not None else [],
    )  # fmt: skip


def _assert_sums_without(client_fn: Any, history: Any, *gone: str) -> None:
    """The round summed exactly what plain FedAvg without the ``gone`` clients sums."""
    plain = _run(client_fn, None, Gone(*gone))
    for a, b in zip(history.parameters, plain.parameters, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_a_client_that_seals_garbage_for_every_neighbour_is_excluded_and_the_round_completes(
    logistic_client_fn: Any,
) -> None:
    workflow, mod = SecAggPlus(quantisation_bits=20), Deviant(garbler="2")  # complete graph
    history = _run(logistic_client_fn, workflow, mod)
    report = workflow.last
    assert list(report.excluded) == ["2"] and report.starts == 2
    assert "the shares it sealed for" in report.excluded["2"]
    assert "fail authentication" in report.excluded["2"]
    assert report.complaints == {v: ["2"] for v in IDS if v != "2"}
    assert set(history.rounds[0].failures) == {"2"}
    _assert_sums_without(logistic_client_fn, history, "2")


def test_no_input_is_sent_under_the_keys_a_complaint_reveals(logistic_client_fn: Any) -> None:
    """The revealed sealing secret opens this start's shares to and from the complainer; the
    start is abandoned at delivery, so no masked input exists under its keys."""
    mod = Deviant(garbler="2", victims=("4",))
    _run(logistic_client_fn, SecAggPlus(quantisation_bits=20), mod)
    second_start = mod.calls.index(("4", ADVERTISE), mod.calls.index(("4", DELIVER)))
    assert not any(key == MASKED_INPUT for _, key in mod.calls[:second_start])
    assert any(key == MASKED_INPUT for _, key in mod.calls[second_start:])
    # the secret is asked for only after every client's delivery reply is in (the start is
    # abandoned by then): a complaint arriving late would reveal nothing
    reveal = mod.calls.index(("4", REVEAL))
    assert all((v, DELIVER) in mod.calls[:reveal] for v in IDS)


def test_a_complainer_that_does_not_reveal_sits_the_round_out_unconvicted(
    logistic_client_fn: Any,
) -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    history = _run(logistic_client_fn, workflow, Deviant(liar="3", answer="none"))
    assert workflow.last.excluded == {} and workflow.last.starts == 2
    assert "secagg.reveal: raised ConnectionError" in history.rounds[0].failures["3"]
    _assert_sums_without(logistic_client_fn, history, "3")


def test_a_client_that_complains_falsely_is_excluded_not_the_one_it_accuses(
    logistic_client_fn: Any,
) -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    history = _run(logistic_client_fn, workflow, Deviant(liar="3", accused="0"))
    assert list(workflow.last.excluded) == ["3"]
    assert "complained falsely about the shares of 0" in workflow.last.excluded["3"]
    _assert_sums_without(logistic_client_fn, history, "3")


def test_a_complaint_with_a_secret_that_is_not_the_complainers_convicts_the_complainer(
    logistic_client_fn: Any,
) -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    _run(logistic_client_fn, workflow, Deviant(liar="3", answer="wrong"))
    assert list(workflow.last.excluded) == ["3"]
    assert "a sealing secret that is not its own" in workflow.last.excluded["3"]


def test_a_complainer_that_answers_the_reveal_without_its_secret_is_excluded(
    logistic_client_fn: Any,
) -> None:
    """A reply that arrives is no lost connection (found by a review)."""
    workflow = SecAggPlus(quantisation_bits=20)
    history = _run(logistic_client_fn, workflow, Deviant(liar="3", answer="malformed"))
    assert "without it" in workflow.last.excluded["3"] and workflow.last.starts == 2
    _assert_sums_without(logistic_client_fn, history, "3")


def test_a_garbler_and_a_liar_in_one_start_are_both_excluded(logistic_client_fn: Any) -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    mod = Deviant(garbler="2", victims=("5",), liar="3", accused="1")
    history = _run(logistic_client_fn, workflow, mod)
    assert sorted(workflow.last.excluded) == ["2", "3"] and workflow.last.starts == 2
    assert set(history.rounds[0].failures) == {"2", "3"}
    _assert_sums_without(logistic_client_fn, history, "2", "3")


def _signed(mod_options: dict[str, Any]) -> tuple[SecAggPlus, Deviant]:
    ca, identities = simulated_identities(IDS)
    workflow = SecAggPlus(quantisation_bits=20, signed=True, ca=ca)
    return workflow, Deviant(**mod_options, identities=identities)


def test_in_a_signed_round_a_holder_dealt_garbage_refuses_revealing_nothing(
    logistic_client_fn: Any,
) -> None:
    """The coordinator of a signed round may be the one tampering: no secret is revealed.
    One refusal (fewer than t = 3) convicts nobody: the holder sits the start out."""
    workflow, mod = _signed({"garbler": "2", "victims": ("4",)})
    history = _run(logistic_client_fn, workflow, mod)
    assert workflow.last.complaints == {"4": ["2"]} and workflow.last.excluded == {}
    assert "refused the round: the shares of 2" in history.rounds[0].failures["4"]
    assert not any(key == REVEAL for _, key in mod.calls)
    assert workflow.last.starts == 1 and set(history.rounds[0].failures) == {"4"}


def test_in_a_signed_round_a_dealer_refused_by_t_holders_is_excluded_and_the_round_completes(
    logistic_client_fn: Any,
) -> None:
    """Before, one client sealing garbage for every neighbour failed every signed round it
    was in (complete graph): nobody revealed anything and nobody was excluded."""
    workflow, mod = _signed({"garbler": "2"})
    history = _run(logistic_client_fn, workflow, mod)
    assert list(workflow.last.excluded) == ["2"] and workflow.last.starts == 2
    assert "5 holders could not use" in workflow.last.excluded["2"]
    assert set(history.rounds[0].failures) == {"2"} and workflow.last.signed
    assert not any(key == REVEAL for _, key in mod.calls)
    _assert_sums_without(logistic_client_fn, history, "2")


class FalseRefusals(SecAggMod):
    """Signed round: the ``liars`` refuse the honest shares of ``accused``."""

    def __init__(self, liars: set[str], accused: str, identities: Any) -> None:
        super().__init__(identities)
        self.liars, self.accused = liars, accused

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if call.key == DELIVER and call.client_id in self.liars:
            return {"refused": [self.accused]}
        return super().__call__(call, call_next)


def test_in_a_signed_round_fewer_than_t_colluders_cannot_frame_an_honest_dealer(
    logistic_client_fn: Any,
) -> None:
    ca, identities = simulated_identities(IDS)
    workflow = SecAggPlus(quantisation_bits=20, signed=True, ca=ca)
    mod = FalseRefusals({"3", "4"}, "0", identities)  # 2 < t = 3
    history = _run(logistic_client_fn, workflow, mod)
    assert workflow.last.excluded == {} and workflow.last.starts == 1
    assert set(history.rounds[0].failures) == {"3", "4"}


class FramingAfterARestart(SecAggMod):
    """Signed round over ten clients: on the first start "9" seals garbage for everyone (to
    force a restart) and the honest "3", "4", "5" drop at delivery; on the second start
    (six clients, t = 3) the colluders "6", "7", "8" refuse the honest "0"'s shares."""

    def __init__(self, identities: Any) -> None:
        super().__init__(identities)
        self.starts: dict[str, int] = {}

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        cid = call.client_id
        if call.key == ADVERTISE:
            self.starts[cid] = self.starts.get(cid, 0) + 1
        start = self.starts.get(cid, 0)
        if call.key == DELIVER and start == 1 and cid in {"3", "4", "5"}:
            raise ConnectionError("gone")
        if call.key == DELIVER and start == 2 and cid in {"6", "7", "8"}:
            return {"refused": ["0"]}
        reply = super().__call__(call, call_next)
        if call.key == SHARE_KEYS and cid == "9" and start == 1:
            for v, sealed in reply["sealed"].items():
                reply["sealed"][v] = sealed[:-1] + bytes([sealed[-1] ^ 1])
        return reply


def test_a_restart_over_fewer_clients_does_not_lower_the_bar_for_framing() -> None:
    """Found by a review: the second start's threshold (3) let three colluders frame an
    honest dealer that the first start's (5) protected."""
    from rengo.hfl import LogisticRegressionClient

    ids = [str(i) for i in range(10)]
    rng = np.random.default_rng(7)
    data = {c: (rng.normal(size=(20, 4)), rng.integers(0, 3, size=20)) for c in ids}
    ca, identities = simulated_identities(ids)
    workflow = SecAggPlus(quantisation_bits=20, signed=True, ca=ca)
    # "0" is not convicted; the refusers sit the start out, too few are left to sign U3
    with pytest.raises(RoundFailure, match="refused the round: the shares of 0"):
        simulate(
            lambda c: LogisticRegressionClient(*data[c], lr=0.1, local_epochs=1), 10,
            FedAvg(min_fit_clients=3), INIT, 1, seed=3, workflow=workflow,
            client_mods=[FramingAfterARestart(identities)],
        )  # fmt: skip
    assert workflow.last.thresholds == [5, 3]
    assert list(workflow.last.excluded) == ["9"]


def test_a_complaint_in_a_signed_round_is_refused(logistic_client_fn: Any) -> None:
    workflow, mod = _signed({"liar": "3"})
    history = _run(logistic_client_fn, workflow, mod)
    assert "malformed objection to its shares" in history.rounds[0].failures["3"]
    assert workflow.last.excluded == {}


def test_a_restart_after_a_complaint_that_still_lacks_clients_fails_naming_them(
    logistic_client_fn: Any,
) -> None:
    """Complaints cannot stall a round: every complaint convicts someone, and a start with
    too few clients left fails with the reason."""
    mod = Deviant(garbler="2")
    workflow = SecAggPlus(quantisation_bits=20)
    with pytest.raises(RoundFailure, match="needs at least 3 sampled clients"):
        simulate(
            logistic_client_fn, 3, FedAvg(min_fit_clients=3), INIT, 1, seed=3,
            workflow=workflow, client_mods=[mod],
        )  # fmt: skip
    assert list(workflow.last.excluded) == ["2"]


class MalformedDelivery(SecAggMod):
    """Client "3" answers share delivery with ``reply`` (types its checks do not expect)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if call.key == DELIVER and call.client_id == "3":
            return self.reply
        return super().__call__(call, call_next)


@pytest.mark.parametrize(
    "reply",
    [{"complaints": [["0"]], "c_sk": bytes(32)}, {"held": np.array([1, 2, 3])}, {"held": True}],
    ids=["a-list-for-a-name", "an-array-for-a-count", "a-bool-for-a-count"],
)
def test_a_malformed_delivery_reply_drops_its_sender_and_the_round_completes(
    logistic_client_fn: Any, reply: dict[str, Any]
) -> None:
    """Found by a review: these crashed the coordinator (TypeError, ValueError)."""
    history = _run(logistic_client_fn, SecAggPlus(quantisation_bits=20), MalformedDelivery(reply))
    assert set(history.rounds[0].failures) == {"3"}
    _assert_sums_without(logistic_client_fn, history, "3")
