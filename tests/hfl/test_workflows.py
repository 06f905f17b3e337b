"""Round workflows: the default single exchange is today's fit stage, and a multi-stage
protocol (a toy pairwise-masking sum, tests/hfl/pairwise_masking.py) runs as a workflow whose
stage keys reach the client mod that owns them, with per-client state kept between stages on
the serial and the process executor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from pairwise_masking import MASKED_FIT, PairMaskWorkflow, quantise

from rengo.core.codec import decode
from rengo.core.errors import RoundFailure
from rengo.core.parameters import flatten
from rengo.hfl import (
    Coordinator,
    FedAvg,
    LogisticRegressionClient,
    SingleExchange,
    client_seed,
    simulate,
)
from rengo.hfl.simulation import make_pool
from rengo.transport.pool import ClientPool, Reply, Request

INIT = [np.zeros((4, 3)), np.zeros(3)]


def _run(client_fn, executor: str, workflow=None, rounds: int = 3, seed: int = 4):
    strategy = FedAvg(fraction_fit=0.7, min_fit_clients=3)
    return simulate(
        client_fn, 6, strategy, INIT, rounds, seed=seed, executor=executor, workers=2,
        workflow=workflow,
    )  # fmt: skip


def test_the_default_workflow_is_the_single_exchange(logistic_client_fn) -> None:
    default = _run(logistic_client_fn, "serial")
    explicit = _run(logistic_client_fn, "serial", SingleExchange())
    for a, b in zip(default.parameters, explicit.parameters, strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_the_masked_two_stage_sum_equals_fedavg(logistic_client_fn, executor: str) -> None:
    plain = _run(logistic_client_fn, "serial")
    masked = _run(logistic_client_fn, executor, PairMaskWorkflow())
    assert [r.clients for r in masked.rounds] == [r.clients for r in plain.rounds]
    assert all(not r.failures for r in masked.rounds)
    # Only the fixed-point rounding separates them (2^-24 per weighted coordinate).
    for a, b in zip(masked.parameters, plain.parameters, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert "train_loss" in plain.metric_names()
    assert not any(name.startswith("train_") for name in masked.metric_names())  # none seen


def test_the_masked_sum_is_bit_identical_across_executors(logistic_client_fn) -> None:
    serial = _run(logistic_client_fn, "serial", PairMaskWorkflow())
    process = _run(logistic_client_fn, "process", PairMaskWorkflow())
    for a, b in zip(serial.parameters, process.parameters, strict=True):
        assert a.tobytes() == b.tobytes()


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


def test_the_coordinator_sees_no_individual_update(client_data, logistic_client_fn) -> None:
    pool = RecordingPool(make_pool(logistic_client_fn, [str(i) for i in range(6)]))
    strategy = FedAvg(min_fit_clients=6)
    coordinator = Coordinator(strategy, pool, INIT, seed=1, workflow=PairMaskWorkflow())
    coordinator.run_round(1)
    pool.close()
    masked = {r.client_id: decode(r.payload)["masked"] for r in pool.replies if r.key == MASKED_FIT}
    assert sorted(masked) == [str(i) for i in range(6)]
    for cid, vector in masked.items():
        # What the client would have sent in the clear (same seed, same local training):
        X, y = client_data[cid]
        client = LogisticRegressionClient(X, y, lr=0.1, local_epochs=2, batch_size=8, l2=1e-3)
        clear = client.fit(INIT, {"seed": client_seed(1, 1, cid), "server_round": 1})
        true = quantise(flatten(clear.parameters) * clear.num_examples).view(np.int64)
        gap = np.abs(vector.view(np.int64).astype(np.float64) - true.astype(np.float64))
        assert np.mean(gap < 2.0**50) < 0.5, f"client {cid}'s update is visible"
        assert np.abs(true).max() < 2.0**45  # the real values are small; masks are not


def test_a_client_dropping_between_stages_fails_the_round_naming_it(client_data) -> None:
    def client_fn(cid: str) -> LogisticRegressionClient:
        X, y = client_data[cid]
        if cid == "3":
            X = X[:, :2]  # wrong shape: its training raises in the masked stage
        return LogisticRegressionClient(X, y, lr=0.1, batch_size=8)

    with pytest.raises(RoundFailure) as caught:
        simulate(client_fn, 6, FedAvg(min_fit_clients=3), INIT, 1, workflow=PairMaskWorkflow())
    message = str(caught.value)
    assert message.startswith("round 1 failed: pairwise masks cannot cancel: 3 dropped at stage")
    assert "'pairmask.masked_fit'" in message and "raised ValueError" in message


class TrippingCheck:
    """A workflow whose reply check itself trips over client 2's reply (a KeyError: it reads
    a metric blindly); every other valid result is folded."""

    def client_mods(self) -> tuple[str, ...]:
        return ()

    def run(self, fit_round):
        strategy = fit_round.strategy
        acc = strategy.accumulator(fit_round.server_round, fit_round.parameters)

        def check(client_id: str, result):
            if client_id == "2":
                _ = result.metrics["absent"]  # the check's own bug
            return result

        for client_id, result in fit_round.exchange("fit", fit_round.instructions, check):
            strategy.add_result(acc, client_id, result)
        return acc


def test_a_reply_that_trips_a_workflows_check_drops_its_sender_not_the_round(
    logistic_client_fn,
) -> None:
    history = simulate(
        logistic_client_fn, 6, FedAvg(min_fit_clients=3), INIT, 1, seed=4,
        workflow=TrippingCheck(),
    )  # fmt: skip
    assert list(history.rounds[0].failures) == ["2"]
    assert "malformed reply (KeyError: 'absent')" in history.rounds[0].failures["2"]
