"""An interrupted simulation continues where it stopped: `rengo run JOB --resume RUN` (and
``simulate(..., resume=RUN)``) picks up after the last checkpoint and ends with the very model
an uninterrupted run trains; other settings are refused and the run stays interrupted."""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import rengo.cli.run_job as run_job_module
from rengo.cli.main import app
from rengo.cli.run_job import run_job
from rengo.hfl import simulate
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "250"})

JOB = """
[job]
name = "resumable"
rounds = 4
seed = 3
[data]
dataset = "wine"
[partition]
scheme = "dirichlet"
num_clients = 4
alpha = 0.5
[model]
type = "logistic"
[train]
lr = 0.2
[strategy]
name = "{strategy}"
"""


def _interrupting_at(round_: int) -> Callable[..., Any]:
    """``simulate`` that stops with Ctrl-C once round ``round_`` is recorded."""

    def stop(record: Any) -> None:
        if record.server_round == round_:
            raise KeyboardInterrupt

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        return simulate(*args, **{**kwargs, "progress": stop})

    return interrupted


def _job(tmp_path: Path, strategy: str) -> tuple[Path, Path, Console]:
    """The job file, its store and a console that prints to a file."""
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(strategy=strategy))
    return job, tmp_path / "runs.db", Console(file=open(tmp_path / "out.txt", "w"))


def _interrupted(
    monkeypatch: pytest.MonkeyPatch, console: Console, job: Path, store_path: Path, at: int
) -> str:
    """Run ``job`` until Ctrl-C once round ``at`` is recorded; the interrupted run's id."""
    with monkeypatch.context() as patched:
        patched.setattr(run_job_module, "simulate", _interrupting_at(at))
        with pytest.raises(KeyboardInterrupt):
            run_job(console, job, store_path=store_path, progress=False)
    with RunStore(store_path) as store:
        run = store.list_runs()[0]
        assert run.status == "interrupted"
        assert [r.round for r in store.rounds(run.run_id)] == list(range(1, at + 1))
        return run.run_id


def _final_parameters(store: RunStore, run_id: str) -> list[np.ndarray]:
    from rengo.core.codec import decode

    last = store.latest_checkpoint(run_id)
    assert last is not None
    return list(decode(bytearray(last[1]))["parameters"])


TOPK = '\n[compression]\nupdate = "topk"\nfraction = 0.1\n'
INT8_MODEL = '\n[compression]\nupdate = "topk"\nfraction = 0.1\nmodel = "int8"\nchunk = 16\n'
MLP = "mlp"  # personal layers need layers: the model becomes an MLP


@pytest.mark.parametrize(
    ("strategy", "extra"),
    [
        ("fedavg", ""),
        ("fedadam", ""),
        # clients that keep state between rounds: kept in the checkpoint, given back
        ("scaffold", ""),
        ("fedper", MLP),
        ("fedavg", TOPK),
        ("fedavg", INT8_MODEL),  # the model's rounding is drawn from the seed each round
    ],
)
def test_a_resumed_run_ends_with_the_model_an_uninterrupted_run_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, extra: str
) -> None:
    job, store_path, console = _job(tmp_path, strategy)
    if extra == MLP:
        job.write_text(job.read_text().replace('type = "logistic"', 'type = "mlp"\nhidden = [8]'))
    else:
        job.write_text(job.read_text() + extra)
    whole = run_job(console, job, store_path=store_path, progress=False)
    stopped = _interrupted(monkeypatch, console, job, store_path, 2)

    result = runner.invoke(
        app,
        [
            *("run", str(job), "--store", str(store_path), "--no-progress"),
            *("--resume", stopped[:-1], "--executor", "process"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"run {stopped} completed" in " ".join(result.output.split())
    with RunStore(store_path) as store:
        resumed = store.get_run(stopped)
        assert resumed.status == "completed"
        assert [r.round for r in store.rounds(stopped)] == [1, 2, 3, 4]
        assert any(e.message == "resumed after round 2" for e in store.events(stopped))
        for got, want in zip(
            _final_parameters(store, stopped),
            _final_parameters(store, whole),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)  # bit-identical, on another executor too
        assert store.rounds(stopped)[-1].metrics == store.rounds(whole)[-1].metrics


def test_a_resume_with_other_settings_is_refused_and_the_run_stays_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, store_path, console = _job(tmp_path, "fedavg")
    run_id = _interrupted(monkeypatch, console, job, store_path, 1)
    result = runner.invoke(
        app,
        [
            "run",
            str(job),
            "--store",
            str(store_path),
            "--no-progress",
            "--resume",
            run_id,
            "--set",
            "train.lr=0.3",
        ],
    )
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"cannot resume run {run_id}: it started with other settings (" in said
    assert "job_settings.train.lr 0.2, now 0.3" in said
    with RunStore(store_path) as store:
        assert store.get_run(run_id).status == "interrupted"
        assert [r.round for r in store.rounds(run_id)] == [1]


@pytest.mark.parametrize(
    ("strategy", "extra", "lost"),
    [("scaffold", "", "SCAFFOLD's control variates"), ("fedavg", TOPK, "top-k's error-feedback")],
)
def test_resuming_from_a_checkpoint_without_client_states_warns_that_they_start_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, extra: str, lost: str
) -> None:
    """A checkpoint written before checkpoints kept clients' states (here: one with them
    taken out) restarts the simulated clients empty, and says so."""
    from rengo.core.codec import decode, encode

    job, store_path, console = _job(tmp_path, strategy)
    job.write_text(job.read_text() + extra)
    run_id = _interrupted(monkeypatch, console, job, store_path, 2)
    with RunStore(store_path) as store:
        last = store.latest_checkpoint(run_id)
        assert last is not None
        checkpoint = decode(bytearray(last[1]))
        assert checkpoint.pop("client_states")  # every client trained by round 2
        store.save_checkpoint(run_id, last[0], encode(checkpoint))
    with pytest.warns(UserWarning, match=f"{lost}.* are not in the round checkpoint"):
        run_job(console, job, store_path=store_path, progress=False, resume=run_id)


def test_a_resume_with_other_compression_is_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, store_path, console = _job(tmp_path, "fedavg")
    job.write_text(job.read_text() + '\n[compression]\nupdate = "topk"\nfraction = 0.1\n')
    run_id = _interrupted(monkeypatch, console, job, store_path, 1)
    result = runner.invoke(
        app,
        [
            *("run", str(job), "--store", str(store_path), "--no-progress"),
            *("--resume", run_id, "--set", "compression.fraction=0.2"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "job_settings.compression.fraction 0.1, now 0.2" in " ".join(result.output.split())


def test_an_interrupted_rengo_run_names_the_command_that_resumes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said `rengo run JOB --resume RUN`, leaving the run id to be looked up."""
    job, store_path, _ = _job(tmp_path, "fedavg")
    monkeypatch.setattr(run_job_module, "simulate", _interrupting_at(2))
    result = runner.invoke(app, ["run", str(job), "--store", str(store_path), "--no-progress"])
    assert result.exit_code == 130, result.output
    with RunStore(store_path) as store:
        [run] = store.list_runs()
    assert run.status == "interrupted"
    command = f"rengo run {job} --store {store_path} --resume {run.run_id}"
    # rich folds a long temporary path anywhere, spaces included: compare without whitespace
    assert "".join(command.split()) in "".join(result.output.split()), result.output


def test_the_resume_command_a_stopped_run_names_repeats_its_set_overrides_and_resumes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It named `rengo run JOB --resume RUN` without the run's `--set` overrides, and that
    command, followed as written, was refused (`started with other settings`)."""
    job, store_path, _ = _job(tmp_path, "fedavg")
    overrides = ["--set", "job.rounds=3", "--set", "train.lr=0.1"]
    with monkeypatch.context() as patched:
        patched.setattr(run_job_module, "simulate", _interrupting_at(2))
        args = ["run", str(job), "--store", str(store_path), "--no-progress", *overrides]
        stopped = runner.invoke(app, args)
    assert stopped.exit_code == 130, stopped.output
    with RunStore(store_path) as store:
        [run] = store.list_runs()
    command = (
        f"rengo run {job} --store {store_path} --set job.rounds=3 --set train.lr=0.1 "
        f"--resume {run.run_id}"
    )
    assert "".join(command.split()) in "".join(stopped.output.split()), stopped.output
    resumed = runner.invoke(app, [*shlex.split(command)[1:], "--no-progress"])
    assert resumed.exit_code == 0, resumed.output
    with RunStore(store_path) as store:
        assert store.get_run(run.run_id).status == "completed"
        assert [r.round for r in store.rounds(run.run_id)] == [1, 2, 3]


def _stopped_while_building(*args: Any, **kwargs: Any) -> Any:
    """``build_hfl_job`` stopped with Ctrl-C: before the run is recorded."""
    raise KeyboardInterrupt


def test_a_run_stopped_before_it_was_recorded_says_nothing_was_kept_and_how_to_start_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped while its data loaded, it said 'completed rounds are kept in the run store;
    continue with `rengo run JOB --resume RUN`': there was no run, no round and no id."""
    job, store_path, _ = _job(tmp_path, "fedavg")
    monkeypatch.setattr(run_job_module, "build_hfl_job", _stopped_while_building)
    result = runner.invoke(app, ["run", str(job), "--store", str(store_path), "--no-progress"])
    assert result.exit_code == 130, result.output
    said = "".join(result.output.split())
    assert "--resume" not in said and "keptintherunstore" not in said, result.output
    assert "nothingwaskept" in said, result.output
    command = f"start it again with `rengo run {job} --store {store_path}`"
    assert "".join(command.split()) in said, result.output


def test_a_resume_stopped_before_it_took_its_run_over_names_that_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rengo run JOB --resume ID` stopped before the resumed run was this process's named
    no run to continue (`--resume RUN`), where the run to continue is ID."""
    job, store_path, console = _job(tmp_path, "fedavg")
    run_id = _interrupted(monkeypatch, console, job, store_path, at=2)
    with sqlite3.connect(store_path) as db:  # interrupted by another process, gone since
        db.execute("UPDATE runs SET owner_pid = ? WHERE run_id = ?", (2**22 + 1, run_id))
    monkeypatch.setattr(run_job_module, "build_hfl_job", _stopped_while_building)
    args = ["run", str(job), "--store", str(store_path), "--no-progress", "--resume", run_id]
    result = runner.invoke(app, args)
    assert result.exit_code == 130, result.output
    command = f"rengo run {job} --store {store_path} --resume {run_id}"
    assert "".join(command.split()) in "".join(result.output.split()), result.output


def test_an_unreadable_store_still_names_the_run_this_process_left(tmp_path: Path) -> None:
    """The hint must not hide an interruption behind a store it cannot read: the run is
    the one this process started, which it knows without the store."""
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        run_id = store.start_run("hfl", {})
    store_path.write_bytes(b"not a database" * 100)
    hint = run_job_module.continue_hint("kept", ["rengo", "run", "j.toml"], store_path)
    assert hint == f"kept; continue with `rengo run j.toml --resume {run_id}`"


def test_the_run_to_continue_is_this_processs_own_not_another_with_its_process_id(
    tmp_path: Path,
) -> None:
    """Only the 20 newest runs were searched, so a run with its rounds kept, after 21 runs of
    a sweep into the same store, was said to hold nothing; then any run with this process's
    id was taken for its own, though a process in another container (or one whose id was
    reused) may have it: the hint named another job's run."""
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        mine = store.start_run("hfl", {})
        store.finish_run(mine, "interrupted")
    others = (  # 21 runs of another process that has this process's id
        "import sys, sqlite3\n"
        "from rengo.tracking import RunStore\n"
        "with RunStore(sys.argv[1]) as store:\n"
        "    ids = [store.start_run('hfl', {}) for _ in range(21)]\n"
        "with sqlite3.connect(sys.argv[1]) as db:\n"
        "    db.executemany('UPDATE runs SET owner_pid = ? WHERE run_id = ?',\n"
        "                   [(int(sys.argv[2]), i) for i in ids])\n"
    )
    subprocess.run([sys.executable, "-c", others, str(store_path), str(os.getpid())], check=True)
    hint = run_job_module.resume_command(Path("j.toml"), store_path)
    assert hint.endswith(f"continue with `rengo run j.toml --store {store_path} --resume {mine}`")


def test_a_stop_before_the_contribution_values_were_recorded_says_they_are_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a completed run's [contribution] values were recorded said 'is kept:
    nothing to resume', though the values (and the payout) were gone with the process."""
    job, store_path, _ = _job(tmp_path, "fedavg")
    job.write_text(job.read_text() + '[contribution]\nmethod = "loo"\n')

    def stopped(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_job_module, "record_and_pay", stopped)
    result = runner.invoke(app, ["run", str(job), "--store", str(store_path), "--no-progress"])
    assert result.exit_code == 130, result.output
    with RunStore(store_path) as store:
        [run] = store.list_runs()
        assert run.status == "completed" and not store.contributions(run.run_id)
    said = " ".join(result.output.split())
    assert "its contribution values were recorded, and they are lost" in said, said
    assert "nothing to resume" not in said


def test_a_stop_after_the_run_completed_says_it_is_kept_with_nothing_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while --plot drew the completed run's figure said to start it again (or to
    resume a run that had ended)."""
    job, store_path, _ = _job(tmp_path, "fedavg")

    def stopped_plot(*args: Any, **kwargs: Any) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_job_module, "plot_run", stopped_plot)
    args = ["run", str(job), "--store", str(store_path), "--no-progress"]
    result = runner.invoke(app, [*args, "--plot", str(tmp_path / "r.png")])
    assert result.exit_code == 130, result.output
    with RunStore(store_path) as store:
        [run] = store.list_runs()
    assert run.status == "completed"
    said = " ".join(result.output.split())
    assert f"run {run.run_id} had completed before the stop and is kept: nothing to resume" in said
    assert "--resume" not in said and "start it again" not in said


def test_rengo_run_does_not_offer_to_resume_a_vertical_run(tmp_path: Path) -> None:
    """The hint gave `rengo run VJOB --resume ID`, which rengo run refuses for vertical jobs."""
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        run_id = store.start_run("vfl", {})
        store.finish_run(run_id, "interrupted")
    hint = run_job_module.resume_command(Path("v.toml"), store_path)
    assert "--resume" not in hint
    assert hint == (
        f"run {run_id} keeps its completed epochs in the run store, but `rengo run` does not "
        f"resume a vertical run part-way: start it again with `rengo run v.toml --store "
        f"{store_path}`"
    )


def test_a_vertical_coordinator_stopped_before_its_first_checkpoint_is_not_offered_a_resume(
    tmp_path: Path,
) -> None:
    """`rengo vfl coordinator --checkpoints` stopped while it waited for its parties said
    'completed epochs are kept with the checkpoints; continue with ... --resume ID', which
    the resume then refused (the folder holds no checkpoint of the run)."""
    from rengo.cli.vfl_deploy import _no_checkpoint_yet

    assert _no_checkpoint_yet(tmp_path, "20261207-000000-abcdef") == (
        "run 20261207-000000-abcdef stopped before its first checkpoint (its parties had not "
        "all joined), so nothing was kept to resume from"
    )
    plan = tmp_path / "20261207-000000-abcdef" / "coordinator" / "plan.json"
    plan.parent.mkdir(parents=True)
    plan.write_text("{}")
    assert _no_checkpoint_yet(tmp_path, "20261207-000000-abcdef") is None


def test_what_a_resume_also_needs_is_said_only_with_a_resume(tmp_path: Path) -> None:
    """The vertical coordinator's hint told the operator to start the parties again for a
    run that had completed ('nothing to resume, and the parties started again')."""
    store_path = tmp_path / "runs.db"
    with RunStore(store_path) as store:
        run_id = store.start_run("vfl", {})
        store.finish_run(run_id, "completed")
    words = ["rengo", "vfl", "coordinator"]
    hint = run_job_module.continue_hint("kept", words, store_path, after=", and the parties")
    assert hint == f"run {run_id} had completed before the stop and is kept: nothing to resume"
