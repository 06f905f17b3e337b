"""Ctrl-C during a process-executor simulation: the run is recorded interrupted, every worker
ends, and the terminal shows no worker's traceback (Ctrl-C reaches the whole process group;
each worker printed a 30-line KeyboardInterrupt traceback of its own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from rengo.core.messages import EvaluateResult, FitResult
    from rengo.hfl import Client, FedAvg, simulate
    from rengo.tracking import RunStore

    folder = Path(sys.argv[1])

    class Sleeper(Client):
        def __init__(self, cid):
            super().__init__()
            self.cid = cid

        def fit(self, parameters, config):
            (folder / f"fit-{self.cid}").touch()
            time.sleep(60)
            return FitResult(parameters, 1)

        def evaluate(self, parameters, config):
            return EvaluateResult(0.0, 1)

    with RunStore(folder / "runs.db") as store:
        try:
            simulate(Sleeper, 4, FedAvg(), [np.zeros(2)], 1, executor="process", workers=2,
                     store=store, progress=False)
        except KeyboardInterrupt:
            print("interrupted:", store.list_runs()[0].status)
    """
)


def test_ctrl_c_ends_a_process_simulation_without_worker_tracebacks(tmp_path: Path) -> None:
    script = tmp_path / "sleepers.py"
    script.write_text(SCRIPT)

    def own_group() -> None:  # as a terminal's foreground job, SIGINT at its default
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()

    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        preexec_fn=own_group,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("fit-*"))) < 2:  # both workers are inside a client
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        time.sleep(0.05)
    group = os.getpgid(proc.pid)
    os.killpg(group, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert "interrupted: interrupted" in out, out
    assert "Traceback" not in out, out
    deadline = time.monotonic() + 10
    while _group_alive(group):  # no worker left behind
        assert time.monotonic() < deadline, "a worker outlived the interrupted simulation"
        time.sleep(0.05)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


KILLED_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import numpy as np
    from rengo.core.messages import EvaluateResult, FitResult
    from rengo.hfl import Client, FedAvg, simulate

    folder = Path(sys.argv[1])

    class Sleeper(Client):
        def __init__(self, cid):
            super().__init__()

        def fit(self, parameters, config):
            (folder / f"worker-{os.getpid()}").touch()
            time.sleep(600)
            return FitResult(parameters, 1)

        def evaluate(self, parameters, config):
            return EvaluateResult(0.0, 1)

    simulate(Sleeper, 4, FedAvg(), [np.zeros(2)], 1, executor="process", workers=2,
             progress=False)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_process_workers_end_when_their_simulation_is_killed_outright(tmp_path: Path) -> None:
    """SIGKILL of the simulation's process alone (a service manager's stop after its grace
    period, the OOM killer): its workers end too, even while busy in a client. Before, each
    forked worker waited for ever on a pipe its siblings held open."""
    script = tmp_path / "killed.py"
    script.write_text(KILLED_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2:  # both workers are inside a client
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
            workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker outlived its killed simulation"
            time.sleep(0.1)
    finally:
        for pid in workers:  # what the old code left running
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
