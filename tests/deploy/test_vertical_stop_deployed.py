"""A deployed vertical coordinator stopped by its operator (SIGTERM: `kill`, a container or
service stop) mid-training: it exits 143 with one line that names the command resuming the
run, the run is recorded interrupted, every party ends instead of waiting on it, and that
`--resume` then finishes the run."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from child_processes import Processes
from test_vertical_deployed import HOSTS, LABEL_PARTY, SEED, certs, tables, wait_for_port
from test_vertical_resume_deployed import PASSPHRASE, only_run, resumed_run, start_parties

from rengo.tracking import RunStore

__all__ = ["certs", "tables"]  # fixtures shared with test_vertical_deployed

EPOCHS = 4


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200", **PASSPHRASE})
    yield procs
    procs.cleanup()


@pytest.mark.timeout(300)
def test_a_vertical_coordinator_stopped_with_sigterm_interrupts_the_run_and_its_parties_end(
    tables: Any, certs: Path, cli: Processes, tmp_path: Path
) -> None:
    store = tmp_path / "runs.db"
    coordinator = cli.start(
        "coordinator",
        "--listen", "127.0.0.1:0",
        "--certs", str(certs),
        "--parties", ",".join([*HOSTS, LABEL_PARTY]),
        "--label-party", LABEL_PARTY,
        "--key-bits", "512",
        "--epochs", str(EPOCHS),
        "--batch-size", "160",
        "--seed", str(SEED),
        "--join-timeout", "60",
        "--store", str(store),
        "--checkpoints", str(tmp_path / "coordinator-checkpoints"),
        "--no-progress",
    )  # fmt: skip
    port, early = wait_for_port(coordinator)
    parties = start_parties(cli, f"127.0.0.1:{port}", tables, certs, tmp_path)
    run = only_run(store)
    saved = tmp_path / "bank-checkpoints" / run.run_id / "bank" / f"epoch-{1:06d}.npz"
    deadline = time.monotonic() + 90
    while not saved.exists():
        assert time.monotonic() < deadline and coordinator.poll() is None, "no epoch 1"
        time.sleep(0.02)
    coordinator.send_signal(signal.SIGTERM)
    out, _ = coordinator.communicate(timeout=90)
    said = "".join(early) + out
    assert coordinator.returncode == 143, said
    assert "terminated (SIGTERM)" in said and "Traceback" not in said, said
    # names the command that continues it (before, only "terminated (SIGTERM)")
    assert f"--resume {run.run_id}" in " ".join(said.split()), said
    for name, party in parties.items():
        party_out, _ = party.communicate(timeout=90)  # each ends, none waits for ever
        assert party.returncode != 0, f"{name}: {party_out}"
        assert "Traceback" not in party_out, f"{name}: {party_out}"
    with RunStore(store, read_only=True) as reader:
        assert reader.get_run(run.run_id).status == "interrupted"
    assert f"trained {EPOCHS} epochs" in resumed_run(cli, tables, certs, tmp_path, run.run_id)
