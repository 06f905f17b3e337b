"""SecAgg+ (Bell et al. CCS 2020) as a round workflow: the unmasked sum is FedAvg's to the
quantisation error on every executor, dropouts below the threshold are recovered and above it
fail naming who dropped where, wrong shares are rejected, and the coordinator's transcript
holds no client's update."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.core.codec import decode
from rengo.core.errors import ConfigError, ProtocolError, RoundFailure
from rengo.core.messages import FitIns, FitResult
from rengo.core.parameters import flatten
from rengo.hfl import (
    Client,
    Coordinator,
    DifferentialPrivacy,
    FedAvg,
    Krum,
    LogisticRegressionClient,
    ResultChecks,
    SecAggMod,
    SecAggPlus,
    SingleExchange,
    client_seed,
    simulate,
)
from rengo.hfl.coordinator import RoundShortOfClients
from rengo.hfl.mods.chain import ClientCall
from rengo.hfl.secagg.protocol import (
    ADVERTISE,
    DELIVER,
    MASKED_INPUT,
    REVEAL,
    SHARE_KEYS,
    UNMASK,
)
from rengo.hfl.simulation import make_pool
from rengo.hfl.workflow import default_checks, sees_each_update
from rengo.privacy import CentralDP
from rengo.transport.pool import ClientPool, Reply, Request

INIT = [np.zeros((4, 3)), np.zeros(3)]
N = 6


def _run(client_fn, executor: str = "serial", workflow=None, rounds: int = 2, n: int = N):
    return simulate(
        client_fn, n, FedAvg(min_fit_clients=n), INIT, rounds, seed=3, executor=executor,
        workers=2, workflow=workflow,
    )  # fmt: skip


def test_the_unmasked_sum_equals_fedavg_to_the_quantisation_error(logistic_client_fn) -> None:
    plain = _run(logistic_client_fn)
    workflow = SecAggPlus(clip_range=2.0, quantisation_bits=20)
    secure = _run(logistic_client_fn, workflow=workflow)
    assert all(not r.failures for r in secure.rounds)
    # a weighted mean of errors each <= clip_range / (2^20 - 1) per round, two rounds
    bound = 2 * 2 * 2.0 / ((1 << 20) - 1)
    for a, b in zip(secure.parameters, plain.parameters, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=bound)
    assert workflow.last.rounding_error > 0 and workflow.last.clipped_fraction == 0.0


@pytest.mark.parametrize("neighbours", [2, 4])
def test_a_sparse_graph_sums_the_same(logistic_client_fn, neighbours: int) -> None:
    full = _run(logistic_client_fn, workflow=SecAggPlus(quantisation_bits=20))
    sparse = _run(
        logistic_client_fn, workflow=SecAggPlus(neighbours=neighbours, quantisation_bits=20)
    )
    for a, b in zip(full.parameters, sparse.parameters, strict=True):
        assert a.tobytes() == b.tobytes()  # masks cancel exactly; same quantised inputs


def test_same_seed_same_result_on_the_serial_and_process_executors(logistic_client_fn) -> None:
    serial = _run(logistic_client_fn, "serial", SecAggPlus(neighbours=4))
    process = _run(logistic_client_fn, "process", SecAggPlus(neighbours=4))
    for a, b in zip(serial.parameters, process.parameters, strict=True):
        assert a.tobytes() == b.tobytes()


class DropAt(SecAggMod):
    """The secagg mod, installed in its place, with some clients failing at one stage each
    (a disconnect). ``"fit"`` drops a client from a plain FedAvg round the same way."""

    def __init__(self, drops: dict[str, str]) -> None:
        self.drops = drops

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        if self.drops.get(call.client_id) == call.key:
            raise ConnectionError(f"gone at {call.key}")
        return super().__call__(call, call_next)


@pytest.mark.parametrize("stage", [MASKED_INPUT, SHARE_KEYS, UNMASK])
def test_dropouts_below_the_threshold_are_recovered(
    client_data, logistic_client_fn, stage: str
) -> None:
    drops = {"1": stage, "4": stage}  # 2 of 6: t = floor(0.5 * 5) + 1 = 3 of 5 neighbours
    workflow = SecAggPlus(quantisation_bits=20)
    history = simulate(
        logistic_client_fn, N, FedAvg(min_fit_clients=3), INIT, 1, seed=3, workflow=workflow,
        client_mods=[DropAt(drops)],
    )  # fmt: skip
    # plain FedAvg over the clients whose inputs made it in (those dropping at unmask did)
    plain_drops = {} if stage == UNMASK else {c: "fit" for c in drops}
    expected = simulate(
        logistic_client_fn, N, FedAvg(min_fit_clients=3), INIT, 1, seed=3,
        client_mods=[DropAt(plain_drops)],
    ).parameters  # fmt: skip
    for a, b in zip(history.parameters, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert workflow.last.dropped == {stage: ["1", "4"]}
    assert set(history.rounds[0].failures) == {"1", "4"}


def test_dropouts_above_the_threshold_fail_naming_who_and_when(logistic_client_fn) -> None:
    drops = {"0": MASKED_INPUT, "2": MASKED_INPUT, "3": UNMASK, "5": UNMASK}
    with pytest.raises(RoundFailure) as caught:
        simulate(
            logistic_client_fn, N, FedAvg(min_fit_clients=3), INIT, 1, seed=3,
            workflow=SecAggPlus(), client_mods=[DropAt(drops)],
        )  # fmt: skip
    message = str(caught.value)
    assert "secure aggregation cannot unmask round 1" in message
    assert f"at {MASKED_INPUT!r}: 0 (" in message and "2 (" in message
    assert f"at {UNMASK!r}: 3 (" in message and "5 (" in message
    assert "gone at" in message


def test_many_clients_dropping_alike_are_one_kind_in_the_round_failure() -> None:
    """The README promises a failed round's message names clients failing alike as one kind
    (as without secure aggregation): it listed every dropped client with its reason, so 40
    clients raising the same error repeated it 40 times."""

    class Raising(LogisticRegressionClient):
        def fit(self, parameters: Any, config: Any) -> FitResult:
            raise RuntimeError("no such file")

    def build(cid: str) -> Raising:
        return Raising(np.zeros((4, 4)), np.zeros(4, dtype=int))

    ids = [f"client-{i}" for i in range(40)]
    with pytest.raises(RoundFailure) as caught:
        simulate(build, ids, FedAvg(), INIT, 1, workflow=SecAggPlus(neighbours=4))
    message = str(caught.value)
    assert f"at {MASKED_INPUT!r}: 40 failed: 40 client(s) (client-" in message
    assert message.count("no such file") == 1 and len(message) < 400


def test_too_few_clients_left_after_advertising_fails_naming_them(logistic_client_fn) -> None:
    drops = {c: ADVERTISE for c in "1234"}
    with pytest.raises(RoundFailure, match=r"2 clients left after stage 'secagg.advertise'"):
        simulate(
            logistic_client_fn, N, FedAvg(min_fit_clients=2), INIT, 1,
            workflow=SecAggPlus(), client_mods=[DropAt(drops)],
        )  # fmt: skip


class RecordingPool:
    """Wraps a pool and keeps every reply the coordinator receives (its transcript)."""

    def __init__(self, inner: ClientPool) -> None:
        self.inner = inner
        self.replies: list[Reply] = []

    def client_ids(self) -> list[str]:
        return self.inner.client_ids()

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        for reply in self.inner.request(requests, timeout):
            self.replies.append(reply)
            yield reply

    def close(self) -> None:
        self.inner.close()


def test_the_coordinators_transcript_holds_no_individual_update(
    client_data, logistic_client_fn
) -> None:
    pool = RecordingPool(make_pool(logistic_client_fn, [str(i) for i in range(N)]))
    workflow = SecAggPlus(neighbours=4, quantisation_bits=16)
    coordinator = Coordinator(FedAvg(min_fit_clients=N), pool, INIT, seed=1, workflow=workflow)
    coordinator.run_round(1)
    pool.close()
    keys = {r.key for r in pool.replies}
    assert keys == {ADVERTISE, SHARE_KEYS, DELIVER, MASKED_INPUT, UNMASK}  # no plain fit reply
    decoded = [decode(r.payload) for r in pool.replies]
    assert not any(isinstance(d, FitResult) for d in decoded)
    masked = {
        r.client_id: decode(r.payload)["masked"] for r in pool.replies if r.key == MASKED_INPUT
    }
    bits = workflow.last.ring_bits
    clear_total = np.zeros(sum(p.size for p in INIT), dtype=np.uint64)
    for cid, vector in masked.items():
        X, y = client_data[cid]
        client = LogisticRegressionClient(X, y, lr=0.1, local_epochs=2, batch_size=8, l2=1e-3)
        clear = client.fit(INIT, {"seed": client_seed(1, 1, cid), "server_round": 1})
        update = flatten(clear.parameters)
        # the clear input: quantised update times the example count; the masked one is
        # uniform in the ring, so it is nowhere near (nor is any float view of it)
        from rengo.crypto.quantisation import Quantisation, quantise

        levels, _ = quantise(update, Quantisation(1.0, 16))
        clear_input = levels.astype(np.float64) * clear.num_examples
        clear_total = clear_total + levels.astype(np.uint64) * np.uint64(clear.num_examples)
        # (a uniform entry lands within 2^(bits - 16) of the clear one with probability
        # 2^-15, so two of the 15 coordinates doing so by chance is a ~1e-7 event per client; the
        # earlier 2^(bits - 8) made that a ~3% flake over six clients)
        gap = np.abs(vector[: update.size].astype(np.float64) - clear_input)
        assert np.mean(gap < 2.0 ** (bits - 16)) < 0.1, f"client {cid}'s input is visible"
        assert not np.allclose(vector[: update.size].astype(np.float64), update, atol=1.0)
        vector = vector[: update.size]
        # what the coordinator saw from this client in every stage: nothing that decodes to
        # the update (its floats never appear)
        for reply in (r for r in pool.replies if r.client_id == cid):
            payload = bytes(reply.payload)
            assert update.astype(np.float64).tobytes()[:64] not in payload
    # the sum of the masked vectors alone is not the sum of the inputs either: the pairwise
    # masks cancel but the self-masks remain until survivors' seeds are rebuilt
    ring = np.uint64((1 << bits) - 1)
    masked_total = np.zeros_like(clear_total)
    for vector in masked.values():
        masked_total = (masked_total + vector[: clear_total.size].astype(np.uint64)) & ring
    assert np.mean(masked_total == (clear_total & ring)) < 0.01


def test_what_leaves_each_client_in_the_clear_under_secagg_is_its_evaluation_as_documented(
    client_data, logistic_client_fn
) -> None:
    """Secure aggregation covers the fit stage only: with federated evaluation on, each
    client's evaluation (its loss, row count and metrics) reaches the coordinator in the
    clear and is recorded per client. docs/secure-aggregation.md said only that federated
    evaluation "still reports the model's quality"; it now says what the coordinator learns
    from each client, and this pins the two together."""
    from pathlib import Path

    from rengo.core.messages import EvaluateResult

    pool = RecordingPool(make_pool(logistic_client_fn, [str(i) for i in range(N)]))
    strategy = FedAvg(min_fit_clients=N, fraction_evaluate=1.0, min_evaluate_clients=N)
    coordinator = Coordinator(strategy, pool, INIT, seed=1, workflow=SecAggPlus(neighbours=4))
    coordinator.run_round(1)
    pool.close()
    fit_stages = {ADVERTISE, SHARE_KEYS, DELIVER, MASKED_INPUT, UNMASK}
    clear = [decode(r.payload) for r in pool.replies if r.key not in fit_stages]
    assert clear and all(isinstance(d, EvaluateResult) for d in clear)
    assert not any(isinstance(decode(r.payload), FitResult) for r in pool.replies)
    by_client = {r.client_id: decode(r.payload) for r in pool.replies if r.key not in fit_stages}
    assert sorted(by_client) == [str(i) for i in range(N)]
    for cid, result in by_client.items():  # each client's own numbers, one by one
        X, _ = client_data[cid]
        assert result.num_examples == len(X) and result.metrics  # accuracy
    doc = Path(__file__).parents[2] / "docs" / "secure-aggregation.md"
    row = next(line for line in doc.read_text().splitlines() if line.startswith("| evaluate"))
    for said in ("loss", "row count", "metrics", "in the clear"):
        assert said in row, f"docs/secure-aggregation.md's evaluate row does not say {said!r}"


class CorruptShares(SecAggMod):
    """The secagg mod, installed in its place: the clients in ``bad`` flip a bit of every
    share they return for unmasking."""

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        reply = super().__call__(call, call_next)
        if call.key == UNMASK and call.client_id in self.bad:
            for name in ("key_shares", "seed_shares"):
                reply[name] = {v: s[:-1] + bytes([s[-1] ^ 1]) for v, s in reply[name].items()}
        return reply


def test_wrong_shares_are_rejected_and_the_round_still_unmasks(
    client_data, logistic_client_fn
) -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    history = simulate(
        logistic_client_fn, N, FedAvg(min_fit_clients=N), INIT, 1,
        seed=3, workflow=workflow, client_mods=[CorruptShares({"2"})],
    )  # fmt: skip
    expected = simulate(
        logistic_client_fn, N, FedAvg(min_fit_clients=N), INIT, 1, seed=3
    ).parameters
    for a, b in zip(history.parameters, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert workflow.last.rejected_shares and all(
        s.startswith("2 -> ") for s in workflow.last.rejected_shares
    )
    # 2 checked those shares at delivery, so only 2 can have changed them: it is named and
    # left out of later rounds (its own input is in this round's sum)
    assert list(workflow.last.excluded) == ["2"]
    assert "other than the one it was dealt" in workflow.last.excluded["2"]


class WithholdShares(SecAggMod):
    """The secagg mod, installed in its place: client ``bad`` answers unmasking with one
    share left out ("withhold"), one share cut short ("garble") or no dict ("list")."""

    def __init__(self, bad: str, how: str) -> None:
        self.bad, self.how = bad, how

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        reply = super().__call__(call, call_next)
        if call.key == UNMASK and call.client_id == self.bad and reply["seed_shares"]:
            first = min(reply["seed_shares"])
            if self.how == "withhold":
                reply["seed_shares"].pop(first)
            elif self.how == "garble":
                reply["seed_shares"][first] = b"x"
            else:
                return [reply["seed_shares"][first]]
        return reply


@pytest.mark.parametrize(
    ("how", "named"),
    [
        ("withhold", "returned seed_shares of"),
        ("garble", "sent malformed seed_shares"),
        ("list", "sent list instead of its shares"),
    ],
)
def test_a_client_that_withholds_or_garbles_its_shares_is_excluded_and_the_round_unmasks(
    logistic_client_fn, how: str, named: str
) -> None:
    """A reply that arrives but is not exactly the shares asked for is no dropout (found by
    a review: only a well-formed short reply was convicted at first)."""
    workflow = SecAggPlus(quantisation_bits=20)
    history = simulate(
        logistic_client_fn, N, FedAvg(min_fit_clients=N - 1), INIT, 2,
        seed=3, workflow=workflow, client_mods=[WithholdShares("2", how)],
    )  # fmt: skip
    first, second = history.rounds
    assert named in first.failures["2"]
    assert "2" not in second.clients and not second.failures


class MalformedDigests(SecAggMod):
    """The secagg mod, installed in its place: client ``bad`` sends the digests of one
    holder's pair of shares in another form (``form`` of the two 32-byte digests)."""

    def __init__(self, bad: str, form: Any) -> None:
        self.bad, self.form = bad, form

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        reply = super().__call__(call, call_next)
        if call.key == SHARE_KEYS and call.client_id == self.bad:
            holder = min(reply["digests"])
            pair = reply["digests"][holder]
            reply["digests"][holder] = self.form(pair[:32], pair[32:])
        return reply


@pytest.mark.parametrize(
    "form",
    [lambda key, seed: [key, seed], lambda key, seed: key + seed[:-1], lambda key, seed: key],
    ids=["a list of two", "63 bytes", "one digest"],
)
def test_a_client_whose_share_digests_are_malformed_drops_at_share_keys_naming_them(
    logistic_client_fn, form: Any
) -> None:
    workflow = SecAggPlus(quantisation_bits=20)
    history = simulate(
        logistic_client_fn, N, FedAvg(min_fit_clients=N - 1), INIT, 1,
        seed=3, workflow=workflow, client_mods=[MalformedDigests("2", form)],
    )  # fmt: skip
    assert workflow.last.dropped == {SHARE_KEYS: ["2"]}
    assert "malformed share digests" in history.rounds[0].failures["2"]


def test_too_many_wrong_shares_fail_naming_the_senders(logistic_client_fn) -> None:
    with pytest.raises(RoundFailure) as caught:
        simulate(
            logistic_client_fn, N, FedAvg(min_fit_clients=N),
            INIT, 1, seed=3, workflow=SecAggPlus(), client_mods=[CorruptShares({"1", "2", "3"})],
        )  # fmt: skip
    message = str(caught.value)
    assert "valid shares of" in message and "rejected wrong shares" in message
    assert "1 -> " in message


def test_strategies_that_need_each_update_are_refused_before_a_run_is_recorded(
    logistic_client_fn, tmp_path
) -> None:
    from rengo.tracking import RunStore

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(ConfigError, match="releases only the sum"):
            simulate(
                logistic_client_fn, N, Krum(min_fit_clients=N), INIT, 1,
                workflow=SecAggPlus(), store=store,
            )  # fmt: skip
        assert store.list_runs() == []


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        ({}, "max_weight_ratio, max_update_norm_ratio"),
        ({"max_weight_ratio": None}, "max_update_norm_ratio"),
        ({"max_update_norm_ratio": None}, "max_weight_ratio"),
    ],
)
def test_per_update_result_checks_are_dropped_out_loud_not_silently_skipped(
    logistic_client_fn, rules: dict[str, Any], named: str
) -> None:
    # they never ran under secure aggregation; now the caller is told, and rengo 0.3 refuses
    with pytest.warns(FutureWarning, match=f"result checks {named} compare each update"):
        coordinator = Coordinator(
            FedAvg(min_fit_clients=N), make_pool(logistic_client_fn, [str(i) for i in range(N)]),
            INIT, workflow=SecAggPlus(), checks=ResultChecks(**rules),
        )  # fmt: skip
    assert coordinator.checks == ResultChecks(**rules).without_median_rules()
    assert not coordinator.run(1).rounds[0].failures


def test_absolute_result_checks_still_run_under_secagg(logistic_client_fn) -> None:
    checks = ResultChecks.streaming()
    history = simulate(
        logistic_client_fn, N, FedAvg(min_fit_clients=N), INIT, 1, workflow=SecAggPlus(),
        checks=checks,
    )  # fmt: skip
    assert len(history.rounds) == 1 and not history.rounds[0].failures


def test_a_deployments_default_checks_drop_the_median_rules_only_under_secagg() -> None:
    assert default_checks(SecAggPlus()) == ResultChecks().without_median_rules()
    assert default_checks(None) == ResultChecks() == default_checks(SingleExchange())
    assert not sees_each_update(SecAggPlus()) and sees_each_update(SingleExchange())


def test_central_dp_noises_the_unmasked_sum(logistic_client_fn) -> None:
    # the same noise in both runs (seeded_noise: tests only), so they compare
    with pytest.warns(UserWarning, match="seeded_noise"):
        strategy = DifferentialPrivacy(
            FedAvg(min_fit_clients=N), noise_multiplier=0.01, clip_norm=0.5, clip_at="client",
            seeded_noise=True,
        )  # fmt: skip
    history = simulate(logistic_client_fn, N, strategy, INIT, 2, seed=3, workflow=SecAggPlus())
    with pytest.warns(UserWarning, match="seeded_noise"):
        in_clear = DifferentialPrivacy(
            FedAvg(min_fit_clients=N), noise_multiplier=0.01, clip_norm=0.5, clip_at="client",
            seeded_noise=True,
        )  # fmt: skip
    clear = simulate(logistic_client_fn, N, in_clear, INIT, 2, seed=3)
    for a, b in zip(history.parameters, clear.parameters, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)
    assert history.rounds[-1].metrics["dp_epsilon"] > 0


def test_coordinator_side_dp_clipping_is_refused_under_secagg(logistic_client_fn) -> None:
    strategy = DifferentialPrivacy(FedAvg(min_fit_clients=N), noise_multiplier=1.0)
    with pytest.raises((ConfigError, RoundFailure), match="clip_at = 'client'"):
        simulate(logistic_client_fn, N, strategy, INIT, 1, workflow=SecAggPlus())


def test_contribution_tracking_falls_back_to_group_level_and_says_so(
    logistic_client_fn, caplog, tmp_path
) -> None:
    from rengo.valuation import ContributionTracker

    def score(params) -> float:
        return -float(sum(np.sum(np.asarray(p) ** 2) for p in params))

    tracker = ContributionTracker(score, method="loo")
    with caplog.at_level("WARNING"):
        simulate(
            logistic_client_fn, N, FedAvg(min_fit_clients=N), INIT, 2, seed=3,
            workflow=SecAggPlus(), observers=[tracker],
        )  # fmt: skip
    assert len(tracker.fallbacks) == 2 and "falls back to group level" in tracker.fallbacks[0]
    assert any("falls back to group level" in r.message for r in caplog.records)
    report = tracker.report()
    values = list(report.values.values())
    assert sorted(report.values) == [str(i) for i in range(N)]
    assert all(v == pytest.approx(values[0]) for v in values)  # equal shares of the group
    assert all(r.stopped_by.startswith("group level") for r in report.rounds)
    assert report.group_level_rounds == (1, 2)
    assert report.method_label == "loo; group level in 2 of 2 rounds"  # rengo run shows it
    from rengo.tracking import RunStore, record_contributions

    with RunStore(tmp_path / "runs.db") as store:
        run_id = store.start_run("hfl", {}, name="secagg")
        record_contributions(store, run_id, report)
        events = [e.message for e in store.events(run_id) if e.level == "warning"]
    assert any("rounds [1, 2] were valued at group level" in m for m in events), events


def test_a_secure_run_records_its_secagg_settings(logistic_client_fn, tmp_path) -> None:
    from rengo.tracking import RunStore

    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            logistic_client_fn, N, FedAvg(min_fit_clients=N), INIT, 1, seed=3,
            workflow=SecAggPlus(neighbours=4), store=store,
        )  # fmt: skip
        assert history.run_id is not None
        config = store.get_run(history.run_id).config
    assert config["secagg"]["neighbours"] == 4 and config["secagg"]["signed"] is False
    assert "dp" not in config


def test_whole_run_contribution_is_refused_under_secagg(logistic_client_fn) -> None:
    from rengo.valuation import ContributionTracker

    tracker = ContributionTracker(lambda p: 0.0, method="or")
    with pytest.raises(ConfigError, match="method 'or' needs each client's update"):
        simulate(
            logistic_client_fn, N, FedAvg(min_fit_clients=N), INIT, 1,
            workflow=SecAggPlus(), observers=[tracker],
        )  # fmt: skip


def _three_clients_through_share_keys() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run the secagg mod of clients a, b, c by hand through the share-keys stage."""
    ids = ["a", "b", "c"]
    mod, states = SecAggMod(), {u: {} for u in ids}
    points = {u: i + 1 for i, u in enumerate(ids)}
    public = {}
    for u in ids:
        others = [v for v in ids if v != u]
        message = {"round": 1, "threshold": 2, "neighbours": others, "points": points}
        public[u] = mod(ClientCall(u, ADVERTISE, message, states[u]), _no_client)
    shared = {}
    for u in ids:
        keys = {v: public[v] for v in ids if v != u}
        shared[u] = mod(
            ClientCall(u, SHARE_KEYS, {"round": 1, "keys": keys}, states[u]), _no_client
        )
    return states, shared


def _no_client(call: ClientCall) -> Any:
    raise AssertionError(f"stage {call.key} reached the client")


def _delivery(shared: dict[str, Any], u: str) -> dict[str, Any]:
    """The share-delivery message for ``u`` of the three clients a, b, c."""
    dealers = [v for v in ("a", "b", "c") if v != u]
    return {
        "round": 1,
        "sealed": {v: shared[v]["sealed"][u] for v in dealers},
        "digests": {v: shared[v]["digests"][u] for v in dealers},
    }


def test_a_client_dealt_a_tampered_share_complains_naming_its_dealer() -> None:
    states, shared = _three_clients_through_share_keys()
    sealing_secret = states["a"]["secagg"]["c_sk"]
    message = _delivery(shared, "a")
    sealed = message["sealed"]["b"]
    message["sealed"]["b"] = sealed[:-1] + bytes([sealed[-1] ^ 1])  # one bit flipped
    reply = SecAggMod()(ClientCall("a", DELIVER, message, states["a"]), _no_client)
    assert reply == {"complaints": ["b"]}  # the secret only when asked for
    # it sends no input under this start's keys (the coordinator starts the round again)
    fit = {"round": 1, "fit": FitIns([np.zeros(3)], {}), "ring_bits": 32}
    with pytest.raises(ProtocolError, match="before this client's shares were delivered"):
        SecAggMod()(ClientCall("a", MASKED_INPUT, fit, states["a"]), _no_client)
    reveal = ClientCall("a", REVEAL, {"round": 1}, states["a"])
    assert SecAggMod()(reveal, _no_client) == {"c_sk": sealing_secret}
    with pytest.raises(ProtocolError, match="without a complaint, or twice"):
        SecAggMod()(reveal, _no_client)


def test_a_client_that_did_not_complain_reveals_nothing() -> None:
    states, shared = _three_clients_through_share_keys()
    SecAggMod()(ClientCall("a", DELIVER, _delivery(shared, "a"), states["a"]), _no_client)
    with pytest.raises(ProtocolError, match="without a complaint"):
        SecAggMod()(ClientCall("a", REVEAL, {"round": 1}, states["a"]), _no_client)


def test_a_share_that_misses_its_dealers_digest_is_complained_about() -> None:
    states, shared = _three_clients_through_share_keys()
    message = _delivery(shared, "a")
    message["digests"]["c"] = bytes(32) + message["digests"]["c"][32:]  # the key share's
    reply = SecAggMod()(ClientCall("a", DELIVER, message, states["a"]), _no_client)
    assert reply["complaints"] == ["c"]


def test_a_client_never_reveals_both_secrets_of_one_neighbour() -> None:
    states, _ = _three_clients_through_share_keys()
    states["a"]["secagg"]["held"] = {"b": b"k" * 70 + b"s" * 70, "c": b"k" * 70 + b"s" * 70}
    message = {"round": 1, "dropped": ["b"], "survivors": ["b", "c"], "survivor_count": 3}
    with pytest.raises(ProtocolError, match="asked for both secrets of b"):
        SecAggMod()(ClientCall("a", UNMASK, message, states["a"]), _no_client)


def test_a_client_shares_keys_and_sends_a_masked_input_once_a_round() -> None:
    states, shared = _three_clients_through_share_keys()
    keys = {v: {"c_pk": b"x" * 32, "s_pk": b"y" * 32} for v in ("b", "c")}
    with pytest.raises(ProtocolError, match="keys were already shared this round"):
        SecAggMod()(
            ClientCall("a", SHARE_KEYS, {"round": 1, "keys": keys}, states["a"]), _no_client
        )
    delivery = ClientCall("a", DELIVER, _delivery(shared, "a"), states["a"])
    assert SecAggMod()(delivery, _no_client) == {"held": 2}
    assert "c_sk" not in states["a"]["secagg"]  # the sealing secret is forgotten once used
    with pytest.raises(ProtocolError, match="shares delivered before this client shared keys"):
        SecAggMod()(delivery, _no_client)
    message = {
        "round": 1, "fit": FitIns([np.zeros(3)], {}), "ring_bits": 32, "mode": "examples",
        "clip_range": 1.0, "quantisation_bits": 16, "max_examples": 10,
    }  # fmt: skip

    def train(call: ClientCall) -> FitResult:
        return FitResult([np.full(3, 0.1)], 2, {})

    reply = SecAggMod()(ClientCall("a", MASKED_INPUT, message, states["a"]), train)
    assert reply["masked"].dtype == np.uint32 and reply["masked"].size == 3 + 4
    assert set(states["a"]["secagg"]) == {"round", "threshold", "held"}  # secrets forgotten
    with pytest.raises(ProtocolError, match="refusing a second masked input"):
        SecAggMod()(ClientCall("a", MASKED_INPUT, message, states["a"]), train)


def test_stages_out_of_order_are_refused() -> None:
    with pytest.raises(ProtocolError, match=r"before 'secagg\.advertise'"):
        SecAggMod()(ClientCall("a", UNMASK, {"round": 1}, {}), _no_client)


class FixedUpdateClient(Client):
    """Returns the global model plus a given update, with a given example count."""

    def __init__(self, update: np.ndarray, examples: int) -> None:
        super().__init__()
        self.update, self.examples = update, examples

    def fit(self, parameters, config) -> FitResult:
        return FitResult([parameters[0] + self.update], self.examples, {})

    def evaluate(self, parameters, config):
        raise AssertionError("not evaluated")


@settings(max_examples=15, deadline=None)
@given(
    updates=st.lists(
        st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=4, max_size=4),
        min_size=3, max_size=6,
    ),
    examples=st.lists(st.integers(1, 500), min_size=6, max_size=6),
    bits=st.integers(8, 20),
    neighbours=st.sampled_from([0, 2]),
)  # fmt: skip
def test_the_protocols_unmasked_mean_is_fedavgs_to_the_stated_error(
    updates, examples, bits: int, neighbours: int
) -> None:
    n = len(updates)
    arrays = [np.array(u) for u in updates]
    counts = examples[:n]
    workflow = SecAggPlus(neighbours=neighbours, quantisation_bits=bits, max_examples=500)
    history = simulate(
        lambda cid: FixedUpdateClient(arrays[int(cid)], counts[int(cid)]),
        [str(i) for i in range(n)], FedAvg(min_fit_clients=n, fraction_evaluate=0.0),
        [np.zeros(4)], 1, workflow=workflow,
    )  # fmt: skip
    clipped = [np.clip(a, -1.0, 1.0) for a in arrays]  # clip_range 1.0
    plain = sum(m * a for m, a in zip(counts, clipped, strict=True)) / sum(counts)
    step = 2.0 / ((1 << bits) - 1)
    assert np.all(np.abs(history.parameters[0] - plain) <= step / 2 + 1e-12)
    assert workflow.last.rounding_error == pytest.approx(sum(counts) * step / 2)


class ResizingClient(FixedUpdateClient):
    """Training that returns a 5-value array for a 4-value model."""

    def fit(self, parameters, config) -> FitResult:
        return FitResult([np.zeros(5)], 1, {})


def test_a_client_whose_training_changes_an_arrays_size_drops_with_the_reason() -> None:
    arrays = [np.full(4, 0.1 * i) for i in range(5)]
    workflow = SecAggPlus()
    history = simulate(
        lambda cid: (ResizingClient if cid == "2" else FixedUpdateClient)(arrays[int(cid)], 1),
        [str(i) for i in range(5)], FedAvg(min_fit_clients=4, fraction_evaluate=0.0),
        [np.zeros(4)], 1, workflow=workflow,
    )  # fmt: skip
    assert workflow.last.dropped == {MASKED_INPUT: ["2"]}
    assert "training returned array 0 with 5 values, the model's has 4" in str(
        history.rounds[0].failures["2"]
    )
    expected = np.mean([arrays[i] for i in (0, 1, 3, 4)], axis=0)
    np.testing.assert_allclose(history.parameters[0], expected, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 3000),
    bits=st.integers(8, 16),
    seed=st.integers(0, 2**32 - 1),
    clip=st.floats(0.01, 10.0),
    weight=st.floats(0.05, 1.0),
)
def test_a_dp_clients_quantised_update_stays_within_the_clip_norm(
    size: int, bits: int, seed: int, clip: float, weight: float
) -> None:
    """Rounding to the nearest level moves every coordinate by up to C / (levels - 1): an
    update clipped to C would come out up to sqrt(d) C / (levels - 1) longer, past the
    sensitivity the accountant assumes. The client shrinks it first, so the update the sum
    holds is within C whatever the update and the levels."""
    from rengo.crypto.quantisation import Quantisation
    from rengo.hfl.secagg.client_mod import _quantise_update, rounding_room

    quantisation = Quantisation(clip, bits)
    if np.sqrt(size) >= quantisation.top:
        with pytest.raises(ProtocolError, match="raise secagg_quantisation_bits"):
            rounding_room([np.zeros(size)], [np.ones(size)], quantisation)
        return
    rng = np.random.default_rng(seed)
    reference = [rng.normal(size=size)]
    update = rng.normal(size=size)
    update *= clip / np.linalg.norm(update)  # clipped to exactly C, as the dp_clip mod does
    trained = [reference[0] + update]
    room = rounding_room(reference, trained, quantisation, weight)
    vector, _ = _quantise_update(
        reference, trained, weight * room, quantisation, 1, np.dtype(np.uint32)
    )
    released = vector[:size] / quantisation.scale - clip
    assert np.linalg.norm(released) <= clip * (1 + 1e-12)
    if weight * clip <= clip * (1 - np.sqrt(size) / quantisation.top):
        assert room == 1.0  # a weighted update with room to spare is left as it is
    unshrunk, _ = _quantise_update(reference, trained, 1.0, quantisation, 1, np.dtype(np.uint32))
    rounded = unshrunk[:size] / quantisation.scale - clip
    assert np.linalg.norm(rounded - update) <= np.sqrt(size) * clip / quantisation.top + 1e-9


class InflateMaskedInput(SecAggMod):
    """The secagg mod, installed in its place: client "0" adds ``amount`` (0: half the ring)
    to entry ``index`` of its masked vector, mod the ring - an input no honest client sends."""

    def __init__(self, index: int, amount: int) -> None:
        self.index, self.amount = index, amount

    def __call__(self, call: ClientCall, call_next: Any) -> Any:
        reply = super().__call__(call, call_next)
        if call.key == MASKED_INPUT and call.client_id == "0":
            masked = reply["masked"].copy()
            bits = int(call.message["ring_bits"])
            amount = self.amount or 1 << (bits - 1)
            masked[self.index] = (int(masked[self.index]) + amount) & ((1 << bits) - 1)
            reply["masked"] = masked
        return reply


@pytest.mark.parametrize(
    ("strategy", "index", "amount", "named"),
    [
        (FedAvg(min_fit_clients=N), 0, 1 << 30, "a coordinate is"),
        (
            DifferentialPrivacy(
                FedAvg(min_fit_clients=N),
                CentralDP(noise_multiplier=1e-9, clip_norm=1.0, clip_at="client"),
            ),
            0,
            0,
            "a coordinate is",
        ),
        (
            DifferentialPrivacy(
                FedAvg(min_fit_clients=N),
                CentralDP(noise_multiplier=1e-9, clip_norm=1.0, clip_at="client"),
            ),
            -2,  # the unclipped bits (adaptive clipping's count)
            10**6,
            "unclipped count",
        ),
    ],
    ids=["fedavg-coordinate", "dp-coordinate", "dp-unclipped-count"],
)
def test_an_unmasked_sum_no_honest_inputs_can_make_fails_the_round_by_name(
    logistic_client_fn: Any, strategy: Any, index: int, amount: int, named: str
) -> None:
    """Such sums were decoded silently: one client moved a coordinate of the mean by 8,700
    (under DP past the sensitivity the accountant assumes), or ended the run with a bare
    ValueError from adaptive clipping."""
    with pytest.raises(RoundFailure, match=f"{named}.*a client sent a malformed input"):
        simulate(
            logistic_client_fn, N, strategy, INIT, 1, seed=3,
            workflow=SecAggPlus(quantisation_bits=16, clip_range=1.0),
            client_mods=[InflateMaskedInput(index, amount)],
        )  # fmt: skip


def test_a_dropout_that_leaves_a_secret_with_too_few_holders_ends_the_round_short_unmasked(
    logistic_client_fn,
) -> None:
    """Three clients, t = 2 of 2 neighbours: one dropping at the masked input leaves each
    survivor's self-mask seed with one holder. The round went on to unmask (releasing the
    survivors' shares) and failed there ('only 1 valid shares ... came back'), a failure no
    deployment retries: a 5 s link blip failed a deployed SecAgg run for good. It is now
    short before unmasking, naming who dropped, so a deployment runs it again once the
    party is back (or the run is left interrupted)."""
    workflow = SecAggPlus(quantisation_bits=20)
    with pytest.raises(RoundShortOfClients) as caught:
        simulate(
            logistic_client_fn, 3, FedAvg(min_fit_clients=2), INIT, 1, seed=3,
            workflow=workflow, client_mods=[DropAt({"2": MASKED_INPUT})],
        )  # fmt: skip
    assert set(caught.value.failures) == {"2"}
    assert "fewer than 2 survivors hold shares of 0, 1," in str(caught.value)
    assert not workflow.last.unmasked
