"""A run stopped by its run store (the disk full, the file read-only, its write lock held by
another process) says how to continue it, as Ctrl-C does: before, `rengo run` and `rengo
coordinator` printed the store's error line alone, and the operator had to find the run's id
in `rengo runs list` and rebuild the command line to resume it once the store could be
written again."""

from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import rengo.deploy
from rengo.cli.main import app
from rengo.hfl import RoundRecord
from rengo.tracking import RunStore
from rengo.tracking import store as store_module
from tests.cli.test_coordinator_interrupt import with_parties, write_served_job
from tests.cli.test_stop_signals import JOB, recorded_rounds
from tests.tracking.test_busy_store import HOLDER

runner = CliRunner()

IMPATIENT_RENGO = textwrap.dedent(
    """
    from rengo.tracking import store
    store._BUSY_TIMEOUT_S = 0.2  # a write waits 0.2 s for the lock, not 30 s
    from rengo.cli.main import app
    app(prog_name="rengo")
    """
)


class Holder:
    """Another process holding ``path``'s write lock until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"HOLDING"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(60)


def _flat(text: str) -> str:
    """``text`` without whitespace: rich folds a long path anywhere, spaces included."""
    return "".join(text.split())


@pytest.mark.timeout(300)
def test_rengo_run_stopped_by_a_held_store_prints_the_command_that_resumes_it(
    tmp_path: Path,
) -> None:
    job_file = tmp_path / "job.toml"
    job_file.write_text(JOB.replace("rounds = 500", "rounds = 1000000"))
    db = tmp_path / "runs.db"
    command = [sys.executable, "-c", IMPATIENT_RENGO, "run", str(job_file), "--store", str(db)]
    proc = subprocess.Popen(
        [*command, "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    holder = None
    try:
        while recorded_rounds(db) < 1:
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.05)
        holder = Holder(db)  # the run's next write waits 0.2 s, then stops it
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if holder is not None:
            holder.release()
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    with RunStore(db, read_only=True) as store:
        [run] = store.list_runs()
    assert run.status == "interrupted"  # its process ended with the run left running
    resume = f"rengo run {job_file} --store {db} --resume {run.run_id}"
    assert "is busy" in out and _flat(resume) in _flat(out), out


@pytest.mark.timeout(180)
def test_rengo_coordinator_stopped_by_a_held_store_prints_the_command_that_resumes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = write_served_job(tmp_path)
    db = tmp_path / "runs.db"
    holders: list[Holder] = []
    real_serve, real_finish = rengo.deploy.serve_coordinator, RunStore.finish_run

    def hold_after_round_one(record: RoundRecord) -> None:
        if record.server_round == 1:  # round 2's record waits 0.1 s, then stops the run
            holders.append(Holder(db))

    def released_to_finish(store: RunStore, *args: Any, **kwargs: Any) -> Any:
        for holder in holders:  # the other process ends: the run's end is recorded
            holder.release()
        return real_finish(store, *args, **kwargs)

    args = ["coordinator", "--job", str(job), "--listen", "127.0.0.1:0", "--insecure"]
    args += ["--store", str(db)]
    try:
        with monkeypatch.context() as patched:
            patched.setattr(store_module, "_BUSY_TIMEOUT_S", 0.1)
            patched.setattr(RunStore, "finish_run", released_to_finish)
            patched.setattr(
                rengo.deploy,
                "serve_coordinator",
                with_parties(
                    lambda *a, **k: real_serve(
                        *a,
                        progress=hold_after_round_one,
                        **{n: v for n, v in k.items() if n != "progress"},
                    ),
                    stop_after=None,
                ),
            )
            stopped = runner.invoke(app, args)
    finally:
        for holder in holders:
            holder.release()
    assert stopped.exit_code == 1, stopped.output
    with RunStore(db) as store:
        [run] = store.list_runs()
    assert run.status == "interrupted"
    command = (
        f"rengo coordinator --job {job} --listen 127.0.0.1:0 --store {db} --insecure "
        f"--resume {run.run_id}"
    )
    assert "is busy" in stopped.output and "Traceback" not in stopped.output, stopped.output
    assert "run failed" not in stopped.output  # the parties keep retrying, as for Ctrl-C
    assert _flat(command) in _flat(stopped.output), stopped.output

    # the command, followed as written, continues the run to its end
    with monkeypatch.context() as patched:
        patched.setattr(rengo.deploy, "serve_coordinator", with_parties(real_serve, None))
        resumed = runner.invoke(app, shlex.split(command)[1:])
    assert resumed.exit_code == 0, resumed.output
    with RunStore(db) as store:
        assert store.get_run(run.run_id).status == "completed"
        assert [r.round for r in store.rounds(run.run_id)] == [1, 2, 3]
