"""Faulty clients are dropped from their round with the reason recorded; a round with too few
results fails with every reason listed, and the rounds completed before it stay recorded."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from rengo.core.codec import decode
from rengo.core.errors import ConfigError, RoundFailure
from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, Coordinator, FedAvg, client_handler, make_pool, simulate
from rengo.transport.pool import Handler, Reply, Request

MODEL = [np.zeros((4, 3)), np.zeros(3)]
ROUND_TIMEOUT = 0.5


class FaultyClient(Client):
    """Adds 1 to the model, unless its id names a fault; ``from_round`` delays the fault."""

    def __init__(self, cid: str, sleep_s: float = 0.0, from_round: int = 1) -> None:
        super().__init__()
        self.cid = cid
        self.sleep_s = sleep_s
        self.from_round = from_round

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        good = [p + 1.0 for p in parameters]
        if int(config["server_round"]) < self.from_round:  # type: ignore[arg-type]
            return FitResult(good, 10)
        if self.cid == "raise":
            raise RuntimeError("boom")
        if self.cid == "nan":
            good[1][0] = np.nan
        elif self.cid == "shape":
            good[0] = np.zeros((2, 2))
        elif self.cid == "not_result":
            return {"parameters": good}  # type: ignore[return-value]
        elif self.cid == "count":
            return FitResult(good[:1], 10)
        elif self.cid == "empty":
            return FitResult(good, 0)
        elif self.cid == "sleep":
            time.sleep(self.sleep_s)
        return FitResult(good, 10)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


FAULTS = ["raise", "nan", "shape", "not_result", "count", "empty", "sleep"]
EXPECTED_REASONS = {
    "raise": "raised RuntimeError: boom",
    "nan": "array 1 contains NaN or Inf",
    "shape": "array 0 has shape (2, 2), expected (4, 3)",
    "not_result": "raised TypeError: fit() returned dict, not FitResult",
    "count": "sent 1 arrays, the model has 2",
    "empty": "reported 0 training examples",
}


@pytest.mark.parametrize(("executor", "sleep_s"), [("serial", 0.8), ("process", 5.0)])
def test_faulty_clients_are_dropped_with_their_reasons(executor: str, sleep_s: float) -> None:
    ids = ["ok1", *FAULTS, "ok2", "ok3"]
    history = simulate(
        lambda cid: FaultyClient(cid, sleep_s=sleep_s),
        ids,
        FedAvg(min_fit_clients=3),
        MODEL,
        2,
        executor=executor,
        workers=2,
        round_timeout=ROUND_TIMEOUT,
    )
    assert len(history.rounds) == 2
    for record in history.rounds:
        assert sorted(record.clients) == sorted(ids)
        assert set(record.failures) == set(FAULTS)
        for cid, reason in EXPECTED_REASONS.items():
            assert record.failures[cid] == reason
        assert record.failures["sleep"].startswith("timed out")
        assert f"limit {ROUND_TIMEOUT:g}s" in record.failures["sleep"]
    # Only the three healthy clients were averaged: each round adds exactly 1.
    np.testing.assert_array_equal(history.parameters[0], np.full((4, 3), 2.0))


def test_too_few_results_fail_the_round_listing_every_reason() -> None:
    with pytest.raises(RoundFailure) as caught:
        simulate(
            FaultyClient, ["ok1", "raise", "nan", "shape"], FedAvg(min_fit_clients=2), MODEL, 1
        )
    message = str(caught.value)
    assert message.startswith("round 1 failed: only 1 of 4 clients reported, min_fit_clients=2")
    assert "raise: raised RuntimeError: boom" in message
    assert "nan: array 1 contains NaN or Inf" in message
    assert "shape: array 0 has shape (2, 2), expected (4, 3)" in message


def test_completed_rounds_and_checkpoints_are_kept_when_a_later_round_fails(tmp_path) -> None:
    tracking = pytest.importorskip("rengo.tracking")
    ids = ["ok1", "ok2", "raise", "nan"]
    with tracking.RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(RoundFailure, match="round 3 failed: only 2 of 4 clients reported"):
            simulate(
                lambda cid: FaultyClient(cid, from_round=3),
                ids,
                FedAvg(min_fit_clients=3),
                MODEL,
                5,
                store=store,
                run_name="doomed",
            )
        (run,) = store.list_runs()
        assert run.status == "failed" and run.name == "doomed"
        assert [r.round for r in store.rounds(run.run_id)] == [1, 2]
        assert all(r.num_failures == 0 and r.num_clients == 4 for r in store.rounds(run.run_id))
        latest = store.latest_checkpoint(run.run_id)
        assert latest is not None and latest[0] == 2
        checkpoint = decode(latest[1])
        assert checkpoint["round"] == 2
        np.testing.assert_array_equal(checkpoint["parameters"][0], np.full((4, 3), 2.0))
        errors = store.events(run.run_id, level="error")
        assert any(
            "round 3 failed" in e.message and "raise: raised RuntimeError" in e.message
            for e in errors
        )
        failed = [c for c in store.client_records(run.run_id) if c.status == "failed"]
        assert {(c.round, c.client_id) for c in failed} == {(3, "raise"), (3, "nan")}


class GarbagePool:
    """A ClientPool double whose client "bad" answers with bytes that are not a payload."""

    def __init__(self, handler: Handler, ids: Sequence[str]) -> None:
        self.handler, self.ids = handler, list(ids)

    def client_ids(self) -> list[str]:
        return list(self.ids)

    def request(self, requests: Sequence[Request], timeout: float | None = None) -> Iterator[Reply]:
        for req in requests:
            payload = (
                b"not a rengo payload"
                if req.client_id == "bad"
                else self.handler(req.client_id, req.key, req.payload, None)[0]
            )
            yield Reply(req.client_id, req.key, payload, None, 0, len(payload), 0.0)

    def close(self) -> None:
        pass


def test_undecodable_reply_is_a_client_failure() -> None:
    pool = GarbagePool(client_handler(FaultyClient), ["ok1", "ok2", "bad"])
    record = Coordinator(FedAvg(), pool, MODEL).run_round(1)
    assert list(record.failures) == ["bad"]
    assert record.failures["bad"].startswith("undecodable reply: not a rengo payload")


def test_make_pool_rejects_an_unknown_executor() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'threads'"):
        make_pool(FaultyClient, ["a"], "threads")


def test_a_client_fn_that_returns_no_client_is_named_in_the_reason() -> None:
    """It failed with "'NoneType' object has no attribute 'state'"."""

    def forgot_return(cid: str) -> Client:
        FaultyClient(cid)  # no return
        return None  # type: ignore[return-value]

    coordinator = Coordinator(FedAvg(), make_pool(forgot_return, ["a", "b"]), MODEL)
    with pytest.raises(RoundFailure) as caught:
        coordinator.run_round(1)
    assert "client_fn('a') returned NoneType, not a client" in str(caught.value)


def test_bad_run_settings_are_refused_before_a_run_is_recorded(tmp_path) -> None:
    from rengo.tracking import RunStore

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(ConfigError, match="seed must be an integer >= 0, got -1"):
            simulate(FaultyClient, 2, FedAvg(), MODEL, 1, seed=-1, store=store)
        with pytest.raises(ConfigError, match=r"client ids must be distinct; \['a'\]"):
            simulate(FaultyClient, ["a", "b", "a"], FedAvg(), MODEL, 1, store=store)
        assert store.list_runs() == []


def test_a_minimum_above_the_federations_size_is_refused_before_any_client_trains(
    tmp_path,
) -> None:
    """FedAvg(min_fit_clients=300) over 200 clients trained all 200, then failed round 1."""
    from rengo.tracking import RunStore

    built: list[str] = []

    def client_fn(cid: str) -> Client:
        built.append(cid)
        return FaultyClient(cid)

    with RunStore(tmp_path / "runs.db") as store:
        for minimum in ({"min_fit_clients": 4}, {"min_available_clients": 4}):
            name = next(iter(minimum))
            with pytest.raises(ConfigError, match=rf"FedAvg: {name}=4, but the federation has 3"):
                simulate(client_fn, 3, FedAvg(**minimum), MODEL, 1, store=store)
        assert store.list_runs() == [] and built == []


def test_a_round_timeout_the_serial_executor_cannot_enforce_is_said() -> None:
    with pytest.warns(UserWarning, match="executor='process' or 'ray' stops a client"):
        simulate(FaultyClient, 2, FedAvg(), MODEL, 1, round_timeout=30.0)


class ExitingClient(FaultyClient):
    """Kills its process in fit (a segfault or the OOM killer, to the pool)."""

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        if self.cid == "exit":
            import os

            os._exit(3)
        return super().fit(parameters, config)


def _killed_worker_round(executor: str) -> Any:
    ids = [f"c{i}" for i in range(7)] + ["exit"]
    return simulate(
        ExitingClient, ids, FedAvg(min_fit_clients=7), MODEL, 1, executor=executor, workers=1
    )


def test_a_client_that_kills_its_worker_is_dropped_alone() -> None:
    """Without a round timeout the process executor runs several clients per task: the
    clients sharing the dead worker's batch were dropped and blamed too (8 with one
    worker), so the model depended on ``workers``."""
    history = _killed_worker_round("process")
    assert history.rounds[0].failures == {"exit": "worker process died (exit code 3)"}
    np.testing.assert_array_equal(history.parameters[0], MODEL[0] + 1.0)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_client_that_kills_its_ray_worker_is_dropped_alone(ray_with_tests: None) -> None:
    history = _killed_worker_round("ray")
    assert list(history.rounds[0].failures) == ["exit"]
    assert history.rounds[0].failures["exit"].startswith("ray task failed")
    np.testing.assert_array_equal(history.parameters[0], MODEL[0] + 1.0)


def test_many_failures_alike_are_summarised_once_in_the_round_failure() -> None:
    """Every client failing alike (a bug in client_fn) listed each: 53 KB for 1,000."""
    ids = [f"raise{i}" for i in range(40)]

    class Raising(FaultyClient):
        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            raise RuntimeError("no such file")

    with pytest.raises(RoundFailure) as caught:
        simulate(Raising, ids, FedAvg(), MODEL, 1)
    message = str(caught.value)
    summary = r"\(40 failed: 40 client\(s\) \(raise\d+, raise\d+, raise\d+, \.\.\.\): raised"
    assert re.search(summary, message)
    assert len(message) < 300 and message.count("no such file") == 1


def test_failures_that_differ_only_by_naming_their_client_are_one_kind_in_the_summary() -> None:
    """Each client raising about its own data file made 40 'reasons' (1 client each)."""
    ids = [f"client-{i}" for i in range(40)]

    class MissingFile(FaultyClient):
        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            raise FileNotFoundError(f"no data file /data/{self.cid}.csv")

    with pytest.raises(RoundFailure) as caught:
        simulate(MissingFile, ids, FedAvg(), MODEL, 1)
    message = str(caught.value)
    assert re.search(
        r"\(40 failed: 40 client\(s\) \(client-\d+, client-\d+, client-\d+, \.\.\.\)", message
    )
    assert message.count("no data file /data/<client>.csv") == 1


def test_failure_kind_takes_out_only_the_clients_own_id() -> None:
    from rengo.hfl.failure_log import failure_kind

    assert failure_kind("client-1", "KeyError: 'client-1' (see client-10)") == (
        "KeyError: '<client>' (see client-10)"
    )
    assert failure_kind("7", "array 7 of client 17") == "array <client> of client 17"


def test_a_numeric_client_id_inside_another_name_is_left_there() -> None:
    """Clients '0' and '1' listed in a message naming client-0 and client-1 were two more
    kinds ('client-<client>'), split from the 28 clients that failed alike."""
    from rengo.hfl.failure_log import failure_kind

    text = "no client '{}' (its 300 clients: client-0, client-1, ..., client-299)"
    kinds = {failure_kind(str(k), text.format(k)) for k in (0, 1, 5, 299)}
    assert kinds == {"no client '<client>' (its 300 clients: client-0, client-1, ..., client-299)"}


def test_a_flower_style_tuple_from_fit_or_evaluate_is_answered_with_the_result_to_return() -> None:
    """A Flower NumPyClient returns (parameters, num_examples, metrics); the reason said only
    'fit() returned tuple, not FitResult' and 'evaluate() returned tuple'."""

    class FlowerStyle(FaultyClient):
        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            if self.cid == "flower-fit":
                return ([p + 1.0 for p in parameters], 10, {})  # type: ignore[return-value]
            return super().fit(parameters, config)

        def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
            if self.cid == "flower-evaluate":
                return (0.5, 10, {})  # type: ignore[return-value]
            return super().evaluate(parameters, config)

    ids = ["a", "b", "flower-fit", "flower-evaluate"]
    history = simulate(FlowerStyle, ids, FedAvg(fraction_evaluate=1.0), MODEL, 1)
    failures = history.rounds[0].failures
    assert failures["flower-fit"] == (
        "raised TypeError: fit() returned tuple, not FitResult: return FitResult(parameters, "
        "num_examples, metrics), not the tuple a Flower NumPyClient returns"
    )
    assert failures["flower-evaluate"] == (
        "evaluate: raised TypeError: evaluate() returned tuple, not EvaluateResult: return "
        "EvaluateResult(loss, num_examples, metrics), not the tuple a Flower NumPyClient returns"
    )


class Unsendable:
    """A value the wire cannot carry, as a torch tensor is (no torch needed here)."""


def test_a_result_holding_a_value_the_wire_cannot_carry_names_where_it_is() -> None:
    """A client returning a tensor among its parameters or as a metric (common in a ported
    PyTorch loop) was dropped with 'cannot encode values of type Tensor', naming neither."""

    class Leaky(FaultyClient):
        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            result = super().fit(parameters, config)
            if self.cid == "param":
                return FitResult([Unsendable()], 10)  # type: ignore[list-item]
            if self.cid == "metric":
                return FitResult(result.parameters, 10, {"loss": Unsendable()})  # type: ignore[dict-item]
            return result

    ids = ["a", "b", "param", "metric"]
    failures = simulate(Leaky, ids, FedAvg(), MODEL, 1).rounds[0].failures
    assert failures["param"].startswith(
        "raised rengo.core.errors.CodecError: FitResult.parameters[0] is a Unsendable, which "
        "cannot be sent: parameters are numpy arrays"
    )
    assert "FitResult.metrics['loss'] is a Unsendable" in failures["metric"]
    assert "(tensor.item())" in failures["metric"]
