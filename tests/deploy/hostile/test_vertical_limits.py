"""An authenticated party of a deployed vertical run cannot make the coordinator or the
label party hold more than the run's message limit allows: a message declared over it is
refused at its header, naming the limit, and what one party leaves unread at another is
capped. Before, a vertical run took the transport's default of 2 GiB a message (and 2 GiB +
64 MiB held per party): two parties streaming 1 GiB each under a key nobody reads took the
coordinator from 98 MiB to 2.2 GiB, and six 256 MiB messages to the label party took it
from 107 MiB to 1.7 GiB, neither sender being cut off."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from fleet import Fleet, Proc, memory_mib, needs_proc
from test_starvation import RawStream, declared, hello, settle

from rengo.tracking import RunStore
from rengo.transport.grpc_frames import CHUNK

MIB = 1024**2


def vertical_job(folder: Path, parties: list[str], limit_mb: float | None) -> Path:
    """A hetero LR job over ``parties`` (the first holds the labels), each with a tiny table."""
    for name in parties:
        label = ",y" if name == parties[0] else ""
        rows = [f"c{i},{i % 7}.5" + (f",{i % 2}" if label else "") for i in range(40)]
        (folder / f"{name}.csv").write_text(f"id,x{label}\n" + "\n".join(rows) + "\n")
    limit = "" if limit_mb is None else f"max_message_mb = {limit_mb}\n"
    tables = "".join(f'{name} = "{name}.csv"\n' for name in parties)
    job = folder / "job.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nseed = 1\n\n[vfl]\nalgorithm = "hetero_lr"\n'
        f'label_party = "{parties[0]}"\nlabel = "y"\nkey_bits = 1024\n{limit}'
        f"\n[vfl.parties]\n{tables}"
    )
    return job


def vertical_coordinator(fleet: Fleet, job: Path) -> tuple[Proc, str, str]:
    """``rengo vfl coordinator --job JOB`` listening; ``(process, address, run id)``."""
    store = fleet.tmp_path / "runs.db"
    proc = fleet.rengo(
        "vfl", "coordinator", "--job", str(job), "--certs", str(fleet.certs),
        "--listen", "127.0.0.1:0", "--no-progress", "--store", str(store),
        "--join-timeout", "120",
    )  # fmt: skip
    port = proc.expect(r"listening on \S+:(\d+);").group(1)
    with RunStore(store, read_only=True) as runs:
        (run,) = runs.list_runs()
    return proc, f"127.0.0.1:{port}", run.run_id


def recorded_event(store: Path, run_id: str, text: str, timeout: float = 30.0) -> str:
    """The first event of the run that contains ``text``, once the coordinator recorded it."""
    deadline = time.monotonic() + timeout
    while True:
        with RunStore(store, read_only=True) as runs:
            found = [e.message for e in runs.events(run_id) if text in e.message]
        if found or time.monotonic() > deadline:
            assert found, f"no event with {text!r}"
            return found[0]
        time.sleep(0.2)


@needs_proc
@pytest.mark.timeout(120)
def test_a_vertical_coordinator_refuses_a_message_over_256_mib_at_its_header(
    fleet: Fleet,
) -> None:
    job = vertical_job(fleet.tmp_path, ["p0", "p1", "mallory"], None)
    coordinator, address, run_id = vertical_coordinator(fleet, job)
    base = settle(coordinator.pid)
    chunk = CHUNK + b"\1" * MIB
    frames = [hello("mallory"), declared("mallory", 257 * MIB), *[chunk] * 257]
    too_big = RawStream(address, fleet.certs, "mallory", frames)
    assert too_big.ended.wait(30), "a message of 257 MiB to the coordinator was accepted"
    assert too_big.error is not None
    assert too_big.error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"exceeds the limit of {256 * MIB}" in (too_big.error.details() or "")
    assert settle(coordinator.pid) - base < 64
    too_big.close()
    left = recorded_event(fleet.tmp_path / "runs.db", run_id, "exceeds the limit")
    assert left.startswith("party mallory left:"), left


@needs_proc
@pytest.mark.timeout(180)
def test_a_party_flooding_the_label_party_is_cut_off_within_the_jobs_message_limit(
    fleet: Fleet,
) -> None:
    """The job's ``max_message_mb`` bounds both ends: the coordinator routes no message
    over it, and holds at most it plus 64 MiB waiting for the label party, which itself
    keeps at most that unread from one sender; the run's record names the flooder."""
    job = vertical_job(fleet.tmp_path, ["p0", "p1", "mallory"], 4)
    _, address, run_id = vertical_coordinator(fleet, job)
    label_party = fleet.rengo(
        "vfl", "party", "--coordinator", address, "--name", "p0", "--job", str(job),
        "--certs", str(fleet.certs), "--no-progress",
    )  # fmt: skip
    recorded_event(fleet.tmp_path / "runs.db", run_id, "party p0 joined")  # it waits for the plan
    base = memory_mib(label_party.pid)
    over = RawStream(
        address, fleet.certs, "mallory", [hello("mallory"), declared("mallory", 5 * MIB, "p0")]
    )
    assert over.ended.wait(30) and over.error is not None
    assert f"exceeds the limit of {4 * MIB}" in (over.error.details() or "")
    over.close()
    chunk = CHUNK + b"\1" * MIB
    frames = [hello("mallory")]
    for i in range(60):  # 240 MiB under keys p0 never reads
        frames += [declared("mallory", 4 * MIB, "p0", f"junk/{i}"), *[chunk] * 4]
    flood = RawStream(address, fleet.certs, "mallory", frames)
    assert flood.ended.wait(90), "60 unread 4 MiB messages to the label party were all taken"
    grown = memory_mib(label_party.pid, "VmHWM") - base
    assert grown < 4 + 64 + 48
    flood.close()
    assert label_party.wait(60) == 1
    assert "error: party p0: mallory sent more than 71303168 bytes" in label_party.output
    recorded_event(  # the run's record names the culprit, not only the party that stopped
        fleet.tmp_path / "runs.db", run_id, "p0 aborted the run (InboxFlooded by mallory)"
    )
