"""What a deployed vertical run leaves on each machine once it completed: the coordinator
keeps only its plan (so a ``--resume`` of the run is refused with the reason), and every
party's checkpoints of the run, which hold which rows of its table every party shares, are
gone (before, each party's alignment and epochs stayed run after run). An interrupted run's
folders stay for its resume, and ``rengo vfl delete-checkpoints RUN`` removes them once it
will not be."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from checkpointed_lr import PARTIES, checkpointed_run, two_parties
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore
from rengo.vfl.checkpoints import CheckpointFolder, EpochState


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.timeout(180)
def test_a_completed_run_leaves_no_party_checkpoints_and_only_the_coordinators_plan(
    tmp_path: Path,
) -> None:
    data = two_parties(tmp_path)
    with RunStore(tmp_path / "runs.db") as store:
        report, parties = checkpointed_run(tmp_path, data, store, epochs=2)
        assert not isinstance(report, BaseException), report
        (run,) = store.list_runs()
        assert run.status == "completed"
    for name in PARTIES:
        assert parties[name].plan.checkpoint_run == run.run_id
        assert files_under(tmp_path / name) == [], name  # alignment and epochs: gone
        assert not (tmp_path / name / run.run_id).exists()
    assert files_under(tmp_path / "coordinator") == [f"{run.run_id}/coordinator/plan.json"]


@pytest.mark.skipif(not hasattr(stat, "S_IMODE"), reason="POSIX modes")
def test_checkpoint_folders_are_their_owners_only(tmp_path: Path) -> None:
    """The checkpoint directory and the run's folder a role makes are 0700 too: their
    entries name the run and its parties."""
    folder = CheckpointFolder(tmp_path / "ckpt", "run-1", "bank", "hetero_lr")
    folder.save_epoch(EpochState(1, {"weights": np.zeros(2)}))
    for path in (tmp_path / "ckpt", tmp_path / "ckpt" / "run-1", folder.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE((folder.path / "epoch-000001.npz").stat().st_mode) == 0o600


def interrupted_folders(root: Path) -> None:
    """Checkpoints of run ``run-1`` as an interrupted run leaves them on one machine (the
    coordinator's and a party's folder), with a stopped write's temporary file."""
    party = CheckpointFolder(root, "run-1", "bank", "hetero_lr")
    party.save_epoch(EpochState(1, {"weights": np.zeros(2)}))
    (party.path / ".epoch-000002.npz.k3j_x9a1.tmp").write_bytes(b"half")
    coordinator = CheckpointFolder(root, "run-1", "coordinator", "hetero_lr")
    coordinator.save_plan({"algorithm": "hetero_lr"})
    CheckpointFolder(root, "run-2", "bank", "hetero_lr").save_plan({})


def test_remove_run_checkpoints_removes_every_role_of_that_run_only(tmp_path: Path) -> None:
    from rengo.vfl.checkpoints import remove_run_checkpoints

    interrupted_folders(tmp_path)
    removed = remove_run_checkpoints(tmp_path, "run-1")
    assert sorted(p.name for p in removed) == [
        ".epoch-000002.npz.k3j_x9a1.tmp",
        "epoch-000001.npz",
        "plan.json",
    ]
    assert not (tmp_path / "run-1").exists()
    assert files_under(tmp_path) == ["run-2/bank/plan.json"]


def test_remove_leaves_files_rengo_did_not_write(tmp_path: Path) -> None:
    from rengo.vfl.checkpoints import remove_run_checkpoints

    interrupted_folders(tmp_path)
    mine = tmp_path / "run-1" / "bank" / "notes.txt"
    mine.write_text("the operator's own")
    remove_run_checkpoints(tmp_path, "run-1")
    assert mine.read_text() == "the operator's own"
    assert files_under(tmp_path / "run-1") == ["bank/notes.txt"]


def test_the_command_deletes_a_runs_checkpoints_after_asking(tmp_path: Path) -> None:
    interrupted_folders(tmp_path)
    runner = CliRunner()
    args = ["vfl", "delete-checkpoints", "run-1", "--checkpoints", str(tmp_path)]
    kept: Any = runner.invoke(app, args, input="n\n")
    assert kept.exit_code == 0 and "nothing deleted" in kept.output
    assert (tmp_path / "run-1" / "bank" / "epoch-000001.npz").exists()
    done: Any = runner.invoke(app, [*args, "--yes"])
    assert done.exit_code == 0, done.output
    assert "deleted 3 checkpoint file(s) of bank, coordinator" in done.output
    assert not (tmp_path / "run-1").exists()
    again: Any = runner.invoke(app, [*args, "--yes"])
    assert again.exit_code == 2 and "no checkpoints of run 'run-1'" in again.output


def test_the_command_refuses_a_path_for_a_run_id(tmp_path: Path) -> None:
    interrupted_folders(tmp_path)
    result: Any = CliRunner().invoke(
        app, ["vfl", "delete-checkpoints", "..", "--checkpoints", str(tmp_path / "run-1")]
    )
    assert result.exit_code == 2 and "not a run id" in result.output
    assert (tmp_path / "run-1" / "bank" / "epoch-000001.npz").exists()
