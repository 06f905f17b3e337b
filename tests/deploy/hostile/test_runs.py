"""Runs are never mislabelled or overwritten, with real ``rengo`` processes: ``--resume``
takes only an interrupted run of the same kind, SIGTERM ends a coordinator like Ctrl-C (the
run is interrupted and resumes), a killed one reads as interrupted, and a damaged store is
named with the way to recover, never recreated."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from fleet import Fleet, free_port

from rengo.tracking import RunStore
from rengo.transport.certs import init_certificates

JOB = """
[job]
name = "resumable"
seed = 3
rounds = 2
[data]
dataset = "iris"
[partition]
scheme = "iid"
num_clients = 2
[model]
type = "logistic"
[train]
lr = 0.2
batch_size = 8
[strategy]
name = "fedavg"
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    certs = tmp_path / "certs"
    init_certificates(certs, ["client-0", "client-1"])
    return job, certs, tmp_path / "runs.db"


def coordinator(fleet: Fleet, job: Path, certs: Path, store: Path, *options: str):  # type: ignore[no-untyped-def]
    address = f"127.0.0.1:{free_port()}"
    proc = fleet.rengo(
        "coordinator", "--job", str(job), "--listen", address, "--certs", str(certs),
        "--store", str(store), "--join-timeout", "120", *options,
    )  # fmt: skip
    return proc, address


def start_parties(fleet: Fleet, address: str, job: Path, certs: Path, *options: str) -> None:
    """`rengo party` for each of the job's two clients."""
    for name in ("client-0", "client-1"):
        fleet.rengo(
            "party", "--coordinator", address, "--name", name, "--job", str(job),
            "--certs", str(certs), *options,
        )  # fmt: skip


@pytest.mark.timeout(300)
def test_sigterm_interrupts_the_run_which_then_resumes_and_nothing_else_resumes(
    fleet: Fleet, setup: tuple[Path, Path, Path]
) -> None:
    job, certs, store_path = setup
    first, _ = coordinator(fleet, job, certs, store_path)
    first.expect("listening on")
    first.popen.send_signal(signal.SIGTERM)
    assert first.wait(60) == 143
    assert "terminated (SIGTERM)" in first.output and "Traceback" not in first.output
    with RunStore(store_path) as store:
        (run,) = store.list_runs()
        assert run.status == "interrupted" and not run.owner_gone  # recorded, not inferred
        with store.run("hfl-deployed", {}) as done:
            pass
        with pytest.raises(KeyboardInterrupt), store.run("vfl-deployed", {}) as vertical:
            raise KeyboardInterrupt
    assert done.run_id is not None and vertical.run_id is not None
    # a prefix of the vertical run's id that no other run shares (runs of one second share
    # the timestamp part, and may share the first random digits)
    others = (done.run_id, run.run_id)
    length = next(
        n for n in range(17, 64) if not any(o.startswith(vertical.run_id[:n]) for o in others)
    )
    refusals = {
        done.run_id: "it completed; only an interrupted run can be resumed",
        vertical.run_id[:length]: "it is a 'vfl-deployed' run, not 'hfl-deployed'",
    }
    for run_id, reason in refusals.items():
        refused, _ = coordinator(fleet, job, certs, store_path, "--resume", run_id)
        assert refused.wait(120) == 2
        assert reason in refused.output and "Traceback" not in refused.output
    with RunStore(store_path, read_only=True) as store:
        assert store.get_run(done.run_id).status == "completed"
        assert store.get_run(vertical.run_id).status == "interrupted"
    again, address = coordinator(fleet, job, certs, store_path, "--resume", run.run_id)
    start_parties(fleet, address, job, certs)
    assert again.wait(240) == 0, again.output[-3000:]
    assert f"run {run.run_id} completed 2 rounds" in again.output
    with RunStore(store_path, read_only=True) as store:
        assert [r.status for r in store.list_runs()] == ["interrupted", "completed", "completed"]
        assert store.get_run(run.run_id).status == "completed"


@pytest.mark.timeout(300)
def test_a_killed_coordinators_run_reads_interrupted(
    fleet: Fleet, setup: tuple[Path, Path, Path]
) -> None:
    job, certs, store_path = setup
    doomed, _ = coordinator(fleet, job, certs, store_path)
    doomed.expect("listening on")
    doomed.popen.send_signal(signal.SIGKILL)
    doomed.wait(60)
    shown = fleet.rengo("runs", "list", "--store", str(store_path))
    assert shown.wait(60) == 0
    assert "interrupted" in shown.output and "running" not in shown.output


@pytest.mark.timeout(120)
def test_a_damaged_or_empty_store_is_named_with_the_way_to_recover(
    fleet: Fleet, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 400)
    empty = tmp_path / "empty.db"
    empty.touch()
    for path, says in ((garbage, ".recover"), (empty, "empty (0-byte) file")):
        before = path.read_bytes()
        listed = fleet.rengo("runs", "list", "--store", str(path))
        assert listed.wait(60) == 2
        assert str(path) in listed.output and says in listed.output
        assert "Traceback" not in listed.output
        assert path.read_bytes() == before  # never recreated over


@pytest.mark.timeout(300)
def test_a_run_resumed_after_some_rounds_says_it_completed_all_of_them(
    fleet: Fleet, setup: tuple[Path, Path, Path]
) -> None:
    job, certs, store_path = setup
    rounds = ("--set", "job.rounds=300")

    def parties(address: str) -> None:
        start_parties(fleet, address, job, certs, "--retry-for", "5")

    first, address = coordinator(fleet, job, certs, store_path, *rounds)
    parties(address)
    first.expect(r"round 3/300")
    first.popen.send_signal(signal.SIGTERM)
    assert first.wait(60) == 143
    with RunStore(store_path, read_only=True) as store:
        (run,) = store.list_runs()
        kept = store.checkpoint_rounds(run.run_id)[-1]
    again, address = coordinator(fleet, job, certs, store_path, *rounds, "--resume", run.run_id)
    parties(address)
    assert again.wait(240) == 0, again.output[-3000:]
    assert (
        f"run {run.run_id} completed 300 rounds ({300 - kept} since it resumed after round {kept})"
    ) in again.output


STOPS_EARLY = (
    JOB.replace("rounds = 2", "rounds = 40")
    + """
fraction_evaluate = 1.0
[early_stopping]
metric = "eval_loss"
patience = 1
min_delta = 0.05
"""
)


@pytest.mark.timeout(300)
def test_a_run_resumed_after_its_early_stop_says_it_had_already_stopped_and_exits_0(
    fleet: Fleet, setup: tuple[Path, Path, Path]
) -> None:
    """The coordinator cut off between the checkpoint of the round early stopping ended the
    run after and the run's completion (its record set back to interrupted, as a SIGKILL
    then leaves it): `--resume` waits for no party, runs no round and says so, where it
    waited for every party and said "completed 0 rounds"."""
    import sqlite3

    job, certs, store_path = setup
    job.write_text(STOPS_EARLY)
    first, address = coordinator(fleet, job, certs, store_path)
    start_parties(fleet, address, job, certs)
    assert first.wait(240) == 0, first.output[-3000:]
    with RunStore(store_path, read_only=True) as store:
        (run,) = store.list_runs()
        stopped_after = max(r.round for r in store.rounds(run.run_id))
        assert stopped_after < 40 and max(store.checkpoint_rounds(run.run_id)) == stopped_after
    with sqlite3.connect(store_path) as db:
        db.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", (run.run_id,))
    again, _ = coordinator(fleet, job, certs, store_path, "--resume", run.run_id)
    assert again.wait(120) == 0, again.output[-3000:]
    assert f"run {run.run_id} had already stopped after round {stopped_after} (early " in (
        again.output
    )
    assert "no round was run" in again.output and "completed 0 rounds" not in again.output
    with RunStore(store_path, read_only=True) as store:
        assert store.get_run(run.run_id).status == "completed"
