"""The dashboard's change watcher: open pages refresh when the store changes, and also when a
run's process dies without a word (nothing is committed, yet the run now reads
``interrupted``; a page had kept showing it ``running``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rengo.tracking import RunStore
from rengo.ui.changes import ChangeWatcher

OWNER = textwrap.dedent(
    """
    import sys, time
    from rengo.tracking import RunStore
    with RunStore(sys.argv[1]) as store, store.run("hfl-deployed", {}, name="slow") as run:
        print(run.run_id, flush=True)
        time.sleep(120)
    """
)


def _wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_a_run_whose_process_is_killed_counts_as_a_change_of_the_store(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(path)], stdout=subprocess.PIPE, text=True
    )
    watcher = ChangeWatcher(path, interval_s=0.05)
    try:
        assert owner.stdout is not None
        run_id = owner.stdout.readline().strip()
        watcher.start()
        _wait_for(lambda: watcher.running is not None and run_id in watcher.running, "running")
        before = watcher.version
        owner.send_signal(signal.SIGKILL)
        owner.wait(20)
        with RunStore(path, read_only=True) as store:
            assert store.get_run(run_id).status == "interrupted"  # though nothing was written
        # one predicate: a heartbeat the owner committed just before the kill may bump the
        # version before the liveness check has run
        _wait_for(
            lambda: watcher.version > before and watcher.running == frozenset(),
            "a change after the kill",
        )
        assert watcher.running == frozenset()
    finally:
        watcher.close()
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
