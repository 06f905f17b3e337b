"""SecAgg+ against a client that deals shares which do not rebuild its own secret: it is
named, left out of the rest of the run, and its round starts again over the other survivors
(and sums exactly what a round without it sums) - on its own it can neither crash the
coordinator nor stop the federation. A start that would sum another set than the first
start's survivors fails instead (two sums of the same updates over different sets reveal
their difference)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from rengo.core.codec import decode, encode
from rengo.core.errors import RoundFailure
from rengo.crypto.pairwise import open_sealed, seal
from rengo.crypto.shamir import PRIME, Share
from rengo.crypto.signatures import SigningIdentity, simulated_identities
from rengo.hfl import Coordinator, FedAvg, SecAggMod, SecAggPlus, make_pool, simulate
from rengo.hfl.mods.chain import ClientCall
from rengo.hfl.secagg.client_mod import STATE_KEY
from rengo.hfl.secagg.protocol import (
    ADVERTISE,
    DELIVER,
    MASKED_INPUT,
    SHARE_KEYS,
    UNMASK,
    dealt_digests,
    seed_commitment,
    share_context,
    share_digest,
)

INIT = [np.zeros((4, 3)), np.zeros(3)]
N = 6
IDS = [str(i) for i in range(N)]


class Misdeal(SecAggMod):
    """The secagg mod, installed in its place: client ``bad`` shifts its shares of one secret
    (``kind``: "seed" or "key") handed to the holders at ``positions`` (in sorted order; None:
    all of them) and re-seals them with matching digests - shares that pass every digest
    check but do not rebuild the secret it masks with. Clients in ``drop`` fail at the stage
    named, on the start (1-based) named."""

    def __init__(
        self,
        bad: str,
        kind: str = "seed",
        positions: tuple[int, ...] | None = None,
        drop: Mapping[str, tuple[str, int]] | None = None,
        identities: Mapping[str, SigningIdentity] | None = None,
    ) -> None:
        if identities:
            super().__init__(identities)
        self.bad, self.kind, self.positions = bad, kind, positions
        self.drop = dict(drop or {})
        self.starts: dict[str, int] = {}

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        cid = call.client_id
        if call.key == ADVERTISE:
            self.starts[cid] = self.starts.get(cid, 0) + 1
        if self.drop.get(cid) == (call.key, self.starts.get(cid, 0)):
            raise ConnectionError(f"gone at {call.key}")
        reply = super().__call__(call, call_next)
        if call.key == SHARE_KEYS and cid == self.bad and self.starts[cid] == 1:
            self._shift(call, reply)
        return reply

    def _shift(self, call: ClientCall, reply: dict[str, Any]) -> None:
        state = call.state[STATE_KEY]
        r, u = state["round"], call.client_id
        index = 0 if self.kind == "key" else 1
        for position, v in enumerate(sorted(reply["sealed"])):
            if self.positions is not None and position not in self.positions:
                continue
            key, context = state["enc"][v], share_context(r, u, v)
            plain = open_sealed(key, reply["sealed"][v], context)
            pair = [plain[:70], plain[70:]]
            share = Share.from_bytes(pair[index])
            pair[index] = Share(share.x, (share.y + 1) % PRIME).to_bytes()
            reply["sealed"][v] = seal(key, pair[0] + pair[1], context)
            reply["digests"][v] = dealt_digests(r, u, v, pair[0], pair[1])


def _run(client_fn: Any, workflow: Any, mod: SecAggMod | None, rounds: int = 1) -> Any:
    return simulate(
        client_fn, N, FedAvg(min_fit_clients=3), INIT, rounds, seed=3, workflow=workflow,
        client_mods=[mod] if mod is not None else [],
    )  # fmt: skip


class Gone(SecAggMod):
    """The secagg mod, installed in its place, with the clients ``gone`` failing every call."""

    def __init__(self, *gone: str) -> None:
        self.gone = set(gone)

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if call.client_id in self.gone:
            raise ConnectionError("gone")
        return super().__call__(call, call_next)


def _without(client_fn: Any, gone: str, rounds: int = 1) -> list[np.ndarray]:
    """Plain FedAvg in which ``gone`` fails every fit: what a round without it sums."""
    return list(_run(client_fn, None, Gone(gone), rounds).parameters)


@pytest.mark.parametrize(
    ("kind", "positions"),
    [("seed", None), ("seed", (0,))],
    ids=["every-share-shifted", "one-share-shifted"],
)
def test_a_client_whose_seed_shares_miss_its_commitment_is_excluded_and_the_others_summed(
    logistic_client_fn: Any, kind: str, positions: tuple[int, ...] | None
) -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    history = _run(logistic_client_fn, workflow, Misdeal("2", kind, positions))
    for a, b in zip(history.parameters, _without(logistic_client_fn, "2"), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert list(workflow.last.excluded) == ["2"] and workflow.last.starts == 2
    assert "self-mask seed that do not rebuild it" in history.rounds[0].failures["2"]
    assert set(history.rounds[0].failures) == {"2"}


def test_a_dropped_client_whose_key_shares_miss_its_public_key_is_excluded(
    logistic_client_fn: Any,
) -> None:
    # "2" deals wrong shares of its masking key, then drops before its masked input: the
    # coordinator must rebuild that key to strip 2's masks from its neighbours' inputs
    workflow = SecAggPlus(quantisation_bits=20)
    mod = Misdeal("2", "key", drop={"2": (MASKED_INPUT, 1)})
    history = _run(logistic_client_fn, workflow, mod)
    for a, b in zip(history.parameters, _without(logistic_client_fn, "2"), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert "masking key that do not rebuild it" in workflow.last.excluded["2"]
    assert mod.starts["2"] == 1  # not asked again


def test_an_excluded_client_is_left_out_of_the_later_rounds(logistic_client_fn: Any) -> None:
    mod = Misdeal("2")
    history = _run(logistic_client_fn, SecAggPlus(quantisation_bits=20), mod, rounds=3)
    assert [("2" in r.clients) for r in history.rounds] == [True, False, False]
    assert mod.starts["2"] == 1
    for a, b in zip(history.parameters, _without(logistic_client_fn, "2", 3), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def test_a_resumed_run_keeps_the_excluded_client_out(logistic_client_fn: Any) -> None:
    def coordinator(mod: SecAggMod) -> Coordinator:
        pool = make_pool(logistic_client_fn, IDS, mods=[mod])
        workflow = SecAggPlus(quantisation_bits=20)
        return Coordinator(FedAvg(min_fit_clients=3), pool, INIT, seed=3, workflow=workflow)

    straight = coordinator(Misdeal("2")).run(3)
    first = coordinator(Misdeal("2"))
    first.run(1)
    resumed = coordinator(SecAggMod())  # "2" would now deal honestly: still not asked
    assert resumed.restore(first.checkpoint_blob(1)) == 1
    assert "self-mask seed that do not rebuild it" in resumed.excluded["2"]
    rest = resumed.run(3)
    assert [("2" in r.clients) for r in rest.rounds] == [False, False]
    assert [r.clients for r in rest.rounds] == [r.clients for r in straight.rounds[1:]]
    for a, b in zip(rest.parameters, straight.parameters, strict=True):
        assert a.tobytes() == b.tobytes()


class MisdealThenAccompliceDrops(Misdeal):
    """Round 2 only: "2" misdeals, and "4" drops in the restart that must keep it."""

    def __init__(self) -> None:
        super().__init__("2", drop={"4": (MASKED_INPUT, 2)})
        self.rounds: dict[str, int] = {}

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        cid = call.client_id
        if call.key == ADVERTISE and self.rounds.get(cid) != call.message["round"]:
            self.rounds[cid] = call.message["round"]
            self.starts[cid] = 0  # count starts per round
        if self.rounds.get(cid) != 2:
            return SecAggMod.__call__(self, call, call_next)
        return super().__call__(call, call_next)


def test_an_exclusion_made_in_a_round_that_fails_survives_a_resume(
    logistic_client_fn: Any, tmp_path: Any
) -> None:
    """Found by a review: only completed rounds were checkpointed, so a culprit excluded in
    a round that then failed was back after a resume."""
    from rengo.tracking import RunStore

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(RoundFailure, match=r"round 2 failed: .*the start without 2 lost 4"):
            simulate(
                logistic_client_fn, N, FedAvg(min_fit_clients=3), INIT, 3, seed=3,
                workflow=SecAggPlus(quantisation_bits=20),
                client_mods=[MisdealThenAccompliceDrops()], store=store,
            )  # fmt: skip
        (run,) = store.list_runs()
        latest = store.latest_checkpoint(run.run_id)
        assert latest is not None and latest[0] == 1
        checkpoint = decode(bytearray(latest[1]))
        assert "self-mask seed that do not rebuild it" in checkpoint["excluded"]["2"]
        resumed = Coordinator(
            FedAvg(min_fit_clients=3), make_pool(logistic_client_fn, IDS), INIT, seed=3,
            workflow=SecAggPlus(quantisation_bits=20),
        )  # fmt: skip
        assert resumed.restore(latest[1]) == 1 and list(resumed.excluded) == ["2"]
        rest = resumed.run(3)
        assert all("2" not in r.clients for r in rest.rounds)


def test_a_checkpoint_with_malformed_exclusions_is_refused(logistic_client_fn: Any) -> None:
    coordinator = Coordinator(FedAvg(), make_pool(logistic_client_fn, IDS), INIT, seed=3)
    state = decode(bytearray(coordinator.checkpoint_blob(1)))
    state["excluded"] = {"2": 7}
    with pytest.raises(ValueError, match="excluded clients are not a map of id to reason"):
        coordinator.restore(encode(state))


def test_a_second_start_that_loses_a_survivor_fails_instead_of_summing_another_set(
    logistic_client_fn: Any,
) -> None:
    mod = Misdeal("2", drop={"4": (MASKED_INPUT, 2)})
    with pytest.raises(RoundFailure, match=r"the start without 2 lost 4: it may only sum"):
        _run(logistic_client_fn, SecAggPlus(), mod)


def test_a_misdealing_client_in_a_signed_round_is_excluded_and_the_round_signed_again(
    logistic_client_fn: Any,
) -> None:
    ca, identities = simulated_identities(IDS)
    workflow = SecAggPlus(quantisation_bits=20, signed=True, ca=ca)
    history = _run(logistic_client_fn, workflow, Misdeal("2", identities=identities))
    assert workflow.last.signed and workflow.last.starts == 2
    assert list(workflow.last.excluded) == ["2"]
    for a, b in zip(history.parameters, _without(logistic_client_fn, "2"), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_the_seed_commitment_binds_the_round_the_owner_and_the_seed() -> None:
    seed = bytes(range(32))
    base = seed_commitment(1, "a", seed)
    assert len(base) == 32
    assert base != seed_commitment(2, "a", seed)
    assert base != seed_commitment(1, "b", seed)
    assert base != seed_commitment(1, "a", bytes(32))


class NoCommitment(SecAggMod):
    def __init__(self) -> None:
        pass

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        reply = super().__call__(call, call_next)
        if call.key == SHARE_KEYS and call.client_id == "1":
            del reply["seed_commitment"]
        return reply


def test_a_client_that_commits_to_no_seed_is_dropped_naming_why(
    logistic_client_fn: Any,
) -> None:
    history = _run(logistic_client_fn, SecAggPlus(), NoCommitment())
    assert "commitment to its self-mask seed" in history.rounds[0].failures["1"]


def test_a_survivor_that_dropped_while_unmasking_the_first_start_counts_in_the_restart(
    logistic_client_fn: Any,
) -> None:
    # "4" fails at unmasking in the first start (tolerated: its input is in U3) and answers
    # every stage of the restart: it is a survivor there, not lost
    workflow = SecAggPlus(quantisation_bits=20)
    mod = Misdeal("2", drop={"4": (UNMASK, 1)})
    history = _run(logistic_client_fn, workflow, mod)
    assert mod.starts["4"] == 2 and workflow.last.starts == 2
    assert workflow.last.dropped == {}  # the restart's own drops: none
    for a, b in zip(history.parameters, _without(logistic_client_fn, "2"), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


MALFORMED = bytes(70)  # x = 0: no share


class MalformedShare(SecAggMod):
    """Owner "2" commits (by digest) to malformed bytes as its seed share for "3", and "3"
    (colluding) takes the shares 2 sealed for it without a complaint and returns the
    malformed bytes when unmasking."""

    def __init__(self) -> None:
        pass

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if call.key == DELIVER and call.client_id == "3" and "2" in call.message["sealed"]:
            state = call.state[STATE_KEY]  # 3 ignores 2's committed digests
            r, key = state["round"], state["enc"]["2"]
            plain = open_sealed(key, call.message["sealed"]["2"], share_context(r, "2", "3"))
            call.message["digests"]["2"] = dealt_digests(r, "2", "3", plain[:70], plain[70:])
        reply = super().__call__(call, call_next)
        if call.key == SHARE_KEYS and call.client_id == "2":
            r = call.state[STATE_KEY]["round"]
            key_digest = reply["digests"]["3"][:32]
            reply["digests"]["3"] = key_digest + share_digest(r, "2", "3", "seed", MALFORMED)
        if call.key == UNMASK and call.client_id == "3" and "2" in reply["seed_shares"]:
            reply["seed_shares"]["2"] = MALFORMED
        return reply


def test_a_share_its_owner_committed_to_that_is_no_share_convicts_the_owner(
    logistic_client_fn: Any,
) -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    history = _run(logistic_client_fn, workflow, MalformedShare())
    assert "malformed share of its self-mask seed" in workflow.last.excluded["2"]
    assert set(workflow.last.excluded) == {"2"} and workflow.last.starts == 2
    for a, b in zip(history.parameters, _without(logistic_client_fn, "2"), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_a_convicted_client_is_told_it_is_left_out_and_why(logistic_client_fn: Any) -> None:
    """A party that secure aggregation convicted was dropped from every later round without a
    word to it (a deployed hub can tell a party about its own results: GrpcHub.notify)."""
    told: list[tuple[str, str]] = []
    pool = make_pool(logistic_client_fn, IDS, mods=[Misdeal("2")])
    pool.notify = lambda name, text: told.append((name, text)) or True  # type: ignore[attr-defined]
    workflow = SecAggPlus(quantisation_bits=20)
    Coordinator(FedAvg(min_fit_clients=3), pool, INIT, seed=3, workflow=workflow).run(2)
    assert [name for name, _ in told] == ["2"], told
    text = told[0][1]
    assert text.startswith("round 1: you are left out of the rest of this run: secure aggregation")
    assert "self-mask seed that do not rebuild it" in text
