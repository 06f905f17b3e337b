"""A client that raises keeps its traceback on every executor, and is reported once: one
warning and one stored event for a fault that repeats every round, the traceback (naming the
client's own code) at debug level and in the run's events."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import Client, ClientFailureLog, FedAvg, simulate
from rengo.tracking import RunStore

MODEL = [np.zeros(3)]
ROUNDS = 3


class BrokenClient(Client):
    def __init__(self, cid: str) -> None:
        super().__init__()
        self.cid = cid

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        if self.cid == "broken":
            return self.broken_step(parameters)
        return FitResult([p + 1 for p in parameters], 5)

    def broken_step(self, parameters: Parameters) -> FitResult:
        raise ValueError("labels out of range")

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        return EvaluateResult(0.0, 1)


def _executors() -> list[str]:
    names = ["serial", "process"]
    try:
        import ray  # noqa: F401
    except ImportError:
        return names
    return [*names, "ray"]


@pytest.mark.parametrize("executor", _executors())
def test_a_raising_client_is_reported_once_with_its_traceback(
    executor: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    private_ray_record: Path,  # [ray] starts its own Ray, not joining one `ray start` recorded
) -> None:
    caplog.set_level(logging.DEBUG, logger="rengo.hfl")
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            BrokenClient,
            ["a", "b", "broken"],
            FedAvg(min_fit_clients=2),
            MODEL,
            ROUNDS,
            executor=executor,
            workers=2,
            store=store,
        )
        assert all("broken" in r.failures for r in history.rounds)
        assert history.run_id is not None
        events = [e.message for e in store.events(history.run_id) if "broken" in e.message]
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "broken" in r.getMessage()
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "raised ValueError: labels out of range" in warnings[0].getMessage()
    tracebacks = [r.getMessage() for r in caplog.records if "Traceback" in r.getMessage()]
    assert len(tracebacks) == 1 and "in broken_step" in tracebacks[0]
    assert __file__.rsplit("/", 1)[-1] in tracebacks[0]
    assert len(events) == 1 and "in broken_step" in events[0]


def test_repeats_are_counted_and_a_new_reason_is_reported_again() -> None:
    seen: list[tuple[int, str, str]] = []
    failures = ClientFailureLog(lambda r, c, reason, tb: seen.append((r, c, reason)))
    for server_round in (1, 2, 3):
        failures.report(server_round, "a", "timed out")
    failures.report(4, "a", "raised KeyError: 'x'")
    failures.report(4, "b", "timed out")
    assert seen == [(1, "a", "timed out"), (4, "a", "raised KeyError: 'x'"), (4, "b", "timed out")]
    assert failures.count("a", "timed out") == 3


def test_a_round_warns_about_its_first_failures_then_says_more_were_dropped(caplog) -> None:
    """1,000 clients failing in one round gave 1,000 warning lines; each first failure is
    still recorded (the run's events) and logged at debug level."""
    seen: list[str] = []
    failures = ClientFailureLog(lambda r, c, reason, tb: seen.append(c))
    limit = ClientFailureLog.WARNINGS_PER_ROUND
    with caplog.at_level(logging.DEBUG, logger="rengo.hfl"):
        for k in range(limit + 20):
            failures.report(1, f"c{k}", f"raised OSError: no file {k}")
        failures.report(2, "c0", "timed out")  # a new round warns again
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == limit + 2
    assert "round 1: more clients dropped" in warnings[limit]
    assert "round 2: dropped client c0: timed out" in warnings[-1]
    assert len(seen) == limit + 21
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(f"dropped client c{limit + 19}:" in m for m in debug)


def test_a_traceback_many_clients_share_is_kept_once_among_the_events(tmp_path: Path) -> None:
    """30 clients raising alike, each naming itself, kept 30 copies of one traceback (at
    1,000 clients: 330 events, 448 KB, a 3,471-line ``rengo runs show``)."""

    class MissingData(BrokenClient):
        def broken_step(self, parameters: Parameters) -> FitResult:
            raise KeyError(self.cid)

        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            if self.cid.startswith("broken"):
                return self.broken_step(parameters)
            return super().fit(parameters, config)

    ids = ["a", "b", *(f"broken-{i}" for i in range(30))]
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(MissingData, ids, FedAvg(min_fit_clients=2), MODEL, 1, store=store)
        assert history.run_id is not None
        events = [e.message for e in store.events(history.run_id) if "dropped" in e.message]
    assert len(events) == 30  # each client's first failure is still there
    with_traceback = [e for e in events if "Traceback (most recent call last)" in e]
    assert len(with_traceback) == 1 and "in broken_step" in with_traceback[0]
    first = with_traceback[0].split()[1]
    assert all(
        f"the same traceback as client {first}'s in round 1" in e
        for e in events
        if e not in with_traceback
    )


def test_clients_failing_as_another_did_are_one_warning_a_round(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1,000 clients, 1 in 7 raising about its own file, gave 132 warning lines in 30
    rounds, ten a round; the first failure of a kind is warned about, and each round counts
    the clients that failed alike after it in one line."""
    failures = ClientFailureLog()
    with caplog.at_level(logging.WARNING, logger="rengo.hfl"):
        for server_round, clients in ((1, range(0, 25)), (2, range(25, 30))):
            for k in clients:
                failures.report(server_round, f"c{k}", f"raised OSError: no file /data/c{k}.csv")
            failures.end_round(server_round)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "round 1: dropped client c0: raised OSError: no file /data/c0.csv",
        "round 1: 24 more client(s) dropped as client c0 was (c1, c2, c3, ...): "
        "raised OSError: no file /data/<client>.csv",
        "round 2: 5 more client(s) dropped as client c0 was (c25, c26, c27, ...): "
        "raised OSError: no file /data/<client>.csv",
    ]
    assert failures.count("c7", "raised OSError: no file /data/c7.csv") == 1


def test_a_simulated_round_of_many_clients_failing_alike_warns_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class MissingFile(BrokenClient):
        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            if self.cid.startswith("broken"):
                raise FileNotFoundError(f"/data/{self.cid}.csv")
            return super().fit(parameters, config)

    ids = ["a", "b", *(f"broken-{i}" for i in range(30))]
    with caplog.at_level(logging.WARNING, logger="rengo.hfl"):
        simulate(MissingFile, ids, FedAvg(min_fit_clients=2), MODEL, 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # it was 11: ten clients, then 'more clients dropped'
    assert warnings[1].startswith("round 1: 29 more client(s) dropped as client broken-")
