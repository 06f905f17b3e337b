"""Real deployments: a coordinator and parties as separate OS processes on loopback, mTLS."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_processes import Processes
from digits_app import PARTIES, SEED, client_fn, initial_parameters, strategy

from rengo.core.codec import decode, encode
from rengo.deploy import serve_coordinator
from rengo.hfl import CompressedUpdates, simulate
from rengo.tracking import RunStore
from rengo.transport.grpc_security import HubSecurity


def simulated(parties: list[str], rounds: int, workflow: Any = None) -> list[np.ndarray]:
    history = simulate(
        client_fn, parties, strategy(len(parties)), initial_parameters(), rounds, seed=SEED,
        workflow=workflow,
    )  # fmt: skip
    return history.parameters


class CoordinatorThread:
    """``serve_coordinator`` in a thread of the test process, parties elsewhere."""

    def __init__(self, certs: Path, parties: list[str], rounds: int, **options: Any) -> None:
        self.port: int | None = None
        self.ready = threading.Event()
        self.result: Any = None
        self.store = RunStore(":memory:")

        def listening(hub: Any) -> None:
            self.port = hub.port
            self.ready.set()

        def target() -> None:
            try:
                self.result = serve_coordinator(
                    strategy(len(parties)),
                    initial_parameters(),
                    rounds,
                    "127.0.0.1:0",
                    HubSecurity.from_directory(certs),
                    parties=parties,
                    join_timeout=120.0,  # party processes start slowly on a busy machine
                    round_timeout=20.0,
                    seed=SEED,
                    store=self.store,
                    heartbeat_interval=0.5,
                    on_listening=listening,
                    **options,
                )
            except BaseException as exc:
                self.result = exc
                self.ready.set()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        assert self.ready.wait(30)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def history(self) -> Any:
        self.thread.join(60)
        assert not self.thread.is_alive(), "coordinator did not finish"
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


@pytest.mark.timeout(60)
def test_five_party_processes_reach_the_simulated_model(certs: Path, processes: Processes) -> None:
    rounds = 3
    coordinator = CoordinatorThread(certs, PARTIES, rounds)
    parties = [processes.party(coordinator.address, name, certs) for name in PARTIES]
    history = coordinator.history()
    assert [len(r.clients) for r in history.rounds] == [5, 5, 5]
    assert all(not r.failures for r in history.rounds)
    expected = simulated(PARTIES, rounds)
    for got, want in zip(history.parameters, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert [p.wait(20) for p in parties] == [0] * 5  # the coordinator's goodbye ends them
    events = [e.message for e in coordinator.store.events(history.run_id)]
    assert sum("joined" in m for m in events) == 5
    assert any(m.startswith("round 3/3") and "received" in m for m in events)


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "workflow",
    [CompressedUpdates("int8", chunk=64), CompressedUpdates("topk", fraction=0.05)],
    ids=["int8", "topk"],
)
def test_compressed_updates_deployed_reach_the_simulated_model(
    certs: Path, processes: Processes, workflow: CompressedUpdates
) -> None:
    """The same seed, the same model: int8's rounding draws from the round's per-client
    seed, and top-k's error-feedback residual lives in each party's process across rounds
    as it lives in the simulation pool; the parties' uplink bytes shrink."""
    rounds, names = 3, PARTIES[:3]
    coordinator = CoordinatorThread(certs, names, rounds, workflow=workflow)
    for name in names:
        processes.party(coordinator.address, name, certs)
    history = coordinator.history()
    assert all(not r.failures for r in history.rounds)
    for got, want in zip(history.parameters, simulated(names, rounds, workflow), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    fits = [r for r in coordinator.store.client_records(history.run_id) if r.phase == "fit"]
    model_bytes = sum(p.nbytes for p in initial_parameters())
    assert len(fits) == rounds * len(names)
    assert all(r.bytes_received < model_bytes / 2 for r in fits)


@pytest.mark.timeout(60)
def test_party_killed_mid_round_is_dropped_then_rejoins(certs: Path, processes: Processes) -> None:
    names = PARTIES[:3]
    coordinator = CoordinatorThread(certs, names, 4, rejoin_wait=30.0)
    for name in names[:2]:
        processes.party(coordinator.address, name, certs)
    doomed = processes.party(coordinator.address, names[2], certs, RENGO_TEST_CRASH_ROUND="2")
    assert doomed.wait(30) == 3  # died inside round 2's fit
    processes.party(coordinator.address, names[2], certs)
    history = coordinator.history()
    second = history.rounds[1]
    assert set(second.failures) == {names[2]}
    assert [len(r.clients) - len(r.failures) for r in history.rounds] == [3, 2, 3, 3]
    events = [e.message for e in coordinator.store.events(history.run_id)]
    assert sum(f"party {names[2]} joined" in m for m in events) == 2
    assert any(f"party {names[2]} left" in m for m in events)


@pytest.mark.timeout(90)
def test_coordinator_crash_resumes_at_next_round(
    certs: Path, processes: Processes, tmp_path: Path
) -> None:
    names, rounds = PARTIES[:3], 4
    store_path, out = tmp_path / "runs.db", tmp_path / "final.bin"
    args = ["coordinator", "127.0.0.1:0", str(certs), str(store_path), str(rounds)]
    first = processes.start(*args, ",".join(names), "--crash-after", "2")
    assert first.stdout is not None
    port = run_id = None
    for line in first.stdout:
        if line.startswith("PORT "):
            port = int(line.split()[1])
        if line.startswith("RUN "):
            run_id = line.split()[1]
            break
    assert port and run_id
    address = f"127.0.0.1:{port}"
    for name in names:
        processes.party(address, name, certs)
    assert first.wait(60) == 1  # crashed right after round 2's checkpoint
    with RunStore(store_path) as store:
        assert store.checkpoint_rounds(run_id) == [2]  # the latest: all resume needs
    args[1] = address
    second = processes.start(*args, ",".join(names), "--resume", run_id, "--out", str(out))
    output, _ = second.communicate(timeout=60)
    assert second.returncode == 0, output
    assert "resuming run" in output
    with RunStore(store_path) as store:
        rounds_run = [r.round for r in store.rounds(run_id)]
        assert rounds_run == [1, 2, 3, 4]
        assert store.get_run(run_id).status == "completed"
    final = decode(bytearray(out.read_bytes()))
    for got, want in zip(final, simulated(names, rounds), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.timeout(120)
def test_a_resumed_coordinator_admits_a_new_party_and_drops_a_removed_one(
    certs: Path, processes: Processes, tmp_path: Path
) -> None:
    """A member admitted (p3) and one taken out (p2) while the run was stopped: the resumed
    run keeps its id and every completed round, serves the new parties from the next round
    on, and records who changed after which round."""
    before, after, rounds = PARTIES[:3], ["p0", "p1", "p3"], 4
    store_path = tmp_path / "runs.db"
    args = ["coordinator", "127.0.0.1:0", str(certs), str(store_path), str(rounds)]
    first = processes.start(*args, ",".join(before), "--crash-after", "2")
    assert first.stdout is not None
    port = run_id = None
    for line in first.stdout:
        if line.startswith("PORT "):
            port = int(line.split()[1])
        if line.startswith("RUN "):
            run_id = line.split()[1]
            break
    assert port and run_id
    address = f"127.0.0.1:{port}"
    for name in before:
        processes.party(address, name, certs)
    assert first.wait(60) == 1  # crashed right after round 2's checkpoint
    processes.party(address, "p3", certs)  # the new member, retrying until it is admitted
    args[1] = address
    second = processes.start(*args, ",".join(after), "--resume", run_id)
    output, _ = second.communicate(timeout=90)
    assert second.returncode == 0, output
    with RunStore(store_path) as store:
        run = store.get_run(run_id)
        assert run.status == "completed"
        assert [r.round for r in store.rounds(run_id)] == [1, 2, 3, 4]
        assert run.config["parties"] == after
        (change,) = run.config["party_changes"]
        assert (change["after_round"], change["admitted"], change["removed"]) == (2, ["p3"], ["p2"])
        fitted = {(r.round, r.client_id) for r in store.client_records(run_id) if r.phase == "fit"}
        assert {c for n, c in fitted if n <= 2} == set(before)
        assert {c for n, c in fitted if n > 2} == set(after)
        events = [e.message for e in store.events(run_id)]
        assert (
            "parties changed after round 2: admitted p3; removed p2 (now 3: p0, p1, p3)" in events
        )


def interrupted_run(certs: Path, store: RunStore, rounds: int) -> str:
    """An ``hfl-deployed`` run of 3 parties, interrupted right as it listened (Ctrl-C), with a
    FedAvg checkpoint after round 2."""

    def interrupt(hub: Any) -> None:
        raise KeyboardInterrupt

    names = PARTIES[:3]
    with pytest.raises(KeyboardInterrupt):
        serve_coordinator(
            strategy(3), initial_parameters(), rounds, "127.0.0.1:0",
            HubSecurity.from_directory(certs), parties=names, seed=SEED, store=store,
            on_listening=interrupt,
        )  # fmt: skip
    run_id = store.list_runs(limit=1)[0].run_id
    state = {"format": 2, "round": 2, "parameters": initial_parameters()}
    state.update(strategy={}, strategy_name="FedAvg", excluded={})
    store.save_checkpoint(run_id, 2, encode(state))
    assert store.get_run(run_id).status == "interrupted"
    return run_id


@pytest.mark.timeout(60)
def test_a_resume_with_other_settings_is_refused_and_leaves_the_run_interrupted(
    certs: Path, tmp_path: Path
) -> None:
    from rengo.core.errors import ConfigError
    from rengo.hfl.strategy import FedMedian

    with RunStore(tmp_path / "runs.db") as store:
        run_id = interrupted_run(certs, store, rounds=8)

        def resume(rounds: int, strat: Any = None, names: list[str] = PARTIES[:3]) -> None:
            serve_coordinator(
                strat or strategy(3), initial_parameters(), rounds, "127.0.0.1:0",
                HubSecurity.from_directory(certs), parties=names, seed=SEED, store=store,
                resume=run_id, join_timeout=0.5,
            )  # fmt: skip

        # another round count (a job of 3 rounds would have 'completed' it after round 2)
        with pytest.raises(ConfigError, match=r"other settings \(rounds 8, now 3\)"):
            resume(3)
        with pytest.raises(ConfigError, match="strategy 'FedAvg', now 'FedMedian'"):
            resume(8, FedMedian(min_fit_clients=2, min_available_clients=2))
        assert store.get_run(run_id).status == "interrupted"
        # a checkpoint the job cannot take (another strategy's) is one ConfigError, and the
        # run stays interrupted: resumable with the right job
        state = {"format": 2, "round": 2, "parameters": initial_parameters()}
        state.update(strategy={}, strategy_name="FedMedian", excluded={})
        store.save_checkpoint(run_id, 2, encode(state))
        with pytest.raises(ConfigError, match="checkpoint is for FedMedian, not FedAvg"):
            resume(8)
        assert store.get_run(run_id).status == "interrupted"


@pytest.mark.timeout(60)
def test_a_resume_that_removes_a_party_the_hub_still_admits_is_refused(
    certs: Path, tmp_path: Path
) -> None:
    """A run recorded without p2 must not count p2's updates: a hub admitting any certified
    name (no allow-list) cannot take p2 out, so the resume is refused, recording nothing."""
    from rengo.core.errors import ConfigError

    with RunStore(tmp_path / "runs.db") as store:
        run_id = interrupted_run(certs, store, rounds=8)
        with pytest.raises(ConfigError, match="without p2, whom the coordinator's allow-list"):
            serve_coordinator(
                strategy(2), initial_parameters(), 8, "127.0.0.1:0",
                HubSecurity.from_directory(certs), parties=PARTIES[:2], seed=SEED,
                store=store, resume=run_id, join_timeout=0.5,
            )  # fmt: skip
        run = store.get_run(run_id)
        assert run.status == "interrupted"
        assert run.config["parties"] == PARTIES[:3] and "party_changes" not in run.config


@pytest.mark.timeout(60)
def test_a_coordinator_moved_to_another_machine_resumes_and_says_so(
    certs: Path, tmp_path: Path
) -> None:
    """Resumed on another machine (another address, its job file at another path, the same
    settings), the run is taken up, and its events say where it moved from."""
    from rengo.deploy.coordinator import PartiesLost

    def serve(job_file: str, **options: Any) -> Any:
        return serve_coordinator(
            strategy(3), initial_parameters(), 8, "127.0.0.1:0",
            HubSecurity.from_directory(certs, parties=PARTIES[:3]), parties=PARTIES[:3],
            seed=SEED, store=store, run_config={"job_file": job_file}, **options,
        )  # fmt: skip

    def interrupt(hub: Any) -> None:
        raise KeyboardInterrupt

    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            serve("/srv/old/job.toml", on_listening=interrupt)
        run_id = store.list_runs(limit=1)[0].run_id
        # no party is back yet: the resumed run stays interrupted, having started to serve
        with pytest.raises(PartiesLost):
            serve("/srv/new/job.toml", resume=run_id, join_timeout=0.5)
        events = [e.message for e in store.events(run_id)]
        assert "the coordinator moved: job file /srv/new/job.toml (was /srv/old/job.toml)" in events
        assert store.get_run(run_id).status == "interrupted"


@pytest.mark.timeout(60)
def test_a_resumed_run_counts_the_traffic_of_every_session(certs: Path, tmp_path: Path) -> None:
    """A run resumed (after a move, a change of members) reports the bytes of all its
    sessions, not only of the last one."""
    from rengo.deploy.coordinator import PartiesLost

    with RunStore(tmp_path / "runs.db") as store:
        run_id = interrupted_run(certs, store, rounds=8)
        store.finish_run(run_id, "interrupted", {"bytes_sent": 10**6, "bytes_received": 2 * 10**6})
        with pytest.raises(PartiesLost):  # no party came back: interrupted again
            serve_coordinator(
                strategy(3), initial_parameters(), 8, "127.0.0.1:0",
                HubSecurity.from_directory(certs, parties=PARTIES[:3]), parties=PARTIES[:3],
                seed=SEED, store=store, resume=run_id, join_timeout=0.5,
            )  # fmt: skip
        summary = store.get_run(run_id).summary or {}
        assert summary["bytes_sent"] >= 10**6 and summary["bytes_received"] >= 2 * 10**6


@pytest.mark.timeout(60)
def test_a_party_change_for_a_run_with_no_round_left_is_not_recorded(
    certs: Path, tmp_path: Path
) -> None:
    """A run whose checkpoint is its last round (stopped before it was recorded completed)
    resumed with other parties: nobody takes part in anything any more, so no change is
    recorded; a line says why."""
    with RunStore(tmp_path / "runs.db") as store:
        run_id = interrupted_run(certs, store, rounds=2)
        others = ["p0", "p1", "p3"]
        serve_coordinator(
            strategy(3), initial_parameters(), 2, "127.0.0.1:0",
            HubSecurity.from_directory(certs, parties=others), parties=others,
            seed=SEED, store=store, resume=run_id, join_timeout=0.5,
        )  # fmt: skip
        run = store.get_run(run_id)
        assert run.status == "completed"
        assert "party_changes" not in run.config and run.config["parties"] == PARTIES[:3]
        events = [e.message for e in store.events(run_id)]
        assert (
            "parties not changed: the run had already ended after round 2 (no round is left "
            "to take part in)" in events
        )


@pytest.mark.timeout(240)
def test_a_crashed_session_keeps_its_traffic_in_the_resumed_runs_totals(
    certs: Path, processes: Processes, tmp_path: Path
) -> None:
    """A coordinator killed after round 2 (no summary written at its end) keeps the bytes
    of rounds 1-2: the store holds them after each round, and the resumed run's totals go
    on from there. The hub's count is at least what the parties' per-round records say
    moved (those records leave out heartbeats and hellos), for every round, every session."""
    names, rounds = PARTIES[:3], 4
    store_path = tmp_path / "runs.db"
    args = ["coordinator", "127.0.0.1:0", str(certs), str(store_path), str(rounds)]
    first = processes.start(*args, ",".join(names), "--crash-after", "2")
    assert first.stdout is not None
    port = run_id = None
    for line in first.stdout:
        if line.startswith("PORT "):
            port = int(line.split()[1])
        if line.startswith("RUN "):
            run_id = line.split()[1]
            break
    assert port and run_id
    args[1] = f"127.0.0.1:{port}"
    for name in names:
        processes.party(args[1], name, certs)
    assert first.wait(90) == 1  # killed right after round 2: it wrote no summary at its end

    def moved(store: RunStore, upto: int) -> int:
        records = [r for r in store.client_records(run_id) if r.round <= upto]
        return sum(r.bytes_sent + r.bytes_received for r in records)

    with RunStore(store_path) as store:
        crashed = store.get_run(run_id).summary or {}
        kept = crashed.get("bytes_sent", 0) + crashed.get("bytes_received", 0)
        assert kept >= moved(store, 2) > 0
    second = processes.start(*args, ",".join(names), "--resume", run_id)
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output
    with RunStore(store_path) as store:
        run = store.get_run(run_id)
        assert run.status == "completed"
        total = (run.summary or {})["bytes_sent"] + (run.summary or {})["bytes_received"]
        assert total >= kept + (moved(store, rounds) - moved(store, 2))  # both sessions'
        assert total >= moved(store, rounds)


@pytest.mark.timeout(120)
def test_a_round_short_of_a_restarted_party_runs_again_once_it_rejoins(
    certs: Path, processes: Processes
) -> None:
    names = PARTIES[:2]  # both needed: min_fit_clients=2
    coordinator = CoordinatorThread(certs, names, 3, rejoin_wait=30.0)
    processes.party(coordinator.address, names[0], certs)
    doomed = processes.party(coordinator.address, names[1], certs, RENGO_TEST_CRASH_ROUND="2")
    assert doomed.wait(60) == 3  # died inside round 2's fit
    processes.party(coordinator.address, names[1], certs)  # restarted at once
    history = coordinator.history()  # not "round 2 failed: only 1 of 2 clients reported"
    assert [len(r.clients) - len(r.failures) for r in history.rounds] == [2, 2, 2]
    for got, want in zip(history.parameters, simulated(names, 3), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)  # as if nothing happened
    events = [e.message for e in coordinator.store.events(history.run_id)]
    assert any(m.startswith(f"round 2 fell short: {names[1]} lost the link") for m in events)
    assert f"round 2 runs again: {names[1]} rejoined" in events
    assert coordinator.store.get_run(history.run_id).status == "completed"


@pytest.mark.timeout(120)
def test_a_round_short_of_a_party_that_lost_its_link_leaves_the_run_interrupted(
    certs: Path, processes: Processes
) -> None:
    from rengo.core.errors import RoundFailure

    names = PARTIES[:2]
    coordinator = CoordinatorThread(certs, names, 3)  # no rejoin wait: no second attempt
    processes.party(coordinator.address, names[0], certs)
    processes.party(coordinator.address, names[1], certs, RENGO_TEST_CRASH_ROUND="2")
    with pytest.raises(RoundFailure, match="the run is interrupted: resume it once the parties"):
        coordinator.history()
    (run,) = coordinator.store.list_runs()
    assert run.status == "interrupted"  # not failed: --resume continues after round 1
    assert coordinator.store.checkpoint_rounds(run.run_id) == [1]
