"""A vertical run's checkpoints kept by an earlier release are refused, not continued: the
linear models' epochs changed since (whole batches, steps in units of each column's root mean
square, ...), so continuing them gave a model neither release trains (a 2026-12-04 hetero LR
run resumed by this rengo ended at held-out AUC 0.975, against 0.994 and 0.997 when each
release ran it whole). ``fixtures/checkpoints_2026-12-04`` holds the coordinator's plan and a
feature party's epoch 56 as that release wrote them (``rengo vfl coordinator/party
--checkpoints DIR``, the coordinator stopped mid-run)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rengo.core.errors import DataError
from rengo.core.roles import COORDINATOR
from rengo.vfl.checkpoints import CheckpointFolder

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoints_2026-12-04"
RUN_ID = "20261205-234513-c3de7a"
REFUSAL = (
    r"written by an earlier rengo release \(format 'rengo-vfl-checkpoint/1'; .*finish the "
    r"run with the rengo release that started it, or start a new run"
)


@pytest.fixture
def old_folders(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_the_plan_an_earlier_release_checkpointed_is_refused_naming_the_release(
    old_folders: Path,
) -> None:
    folder = CheckpointFolder(old_folders, RUN_ID, COORDINATOR, "hetero_lr")
    with pytest.raises(DataError, match=REFUSAL):
        folder.load_plan()


def test_an_epoch_an_earlier_release_checkpointed_is_refused_naming_the_release(
    old_folders: Path,
) -> None:
    folder = CheckpointFolder(old_folders, RUN_ID, "party1", "hetero_lr")
    assert folder.epochs() == [56]
    with pytest.raises(DataError, match=REFUSAL):
        folder.load_epoch(56)
