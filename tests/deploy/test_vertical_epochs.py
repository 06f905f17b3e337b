"""A deployed vertical coordinator records each training epoch as it ends (before, a
deployed run's record held no epochs at all: `rengo runs show` and the dashboard showed
nothing until the run's summary)."""

from __future__ import annotations

from pathlib import Path

from rengo.core.roles import COORDINATOR
from rengo.deploy.vertical_epochs import EpochRows
from rengo.tracking import RunStore
from rengo.vfl.progress import TrainingReporter, VerticalProgress


def test_each_epoch_is_recorded_once_it_ends_with_its_parties(tmp_path: Path) -> None:
    seen: list[VerticalProgress] = []
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {"algorithm": "hetero_lr"}, "deployed", 3)
        rows = EpochRows(store, run, parties=3, forward=seen.append)
        reporter = TrainingReporter(rows, COORDINATOR, epochs=3, batches=2)
        reporter.begin()
        recorded_after_each_epoch = []
        for epoch in range(2):  # the label party stops after epoch 2 of 3
            reporter.batch(epoch, 0)
            assert [r.round for r in store.rounds(run)] == list(range(1, epoch + 1))
            reporter.batch(epoch, 1)
            reporter.epoch_end(epoch, None, stop=epoch == 1)
            recorded_after_each_epoch.append([r.round for r in store.rounds(run)])
        assert recorded_after_each_epoch == [[1], [1, 2]]
        assert all(r.num_clients == 3 and r.duration_s >= 0 for r in store.rounds(run))
    assert len(seen) == 1 + 2 * 3  # every event reached the display


def test_a_resumed_coordinator_records_the_epochs_after_those_already_kept(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {"algorithm": "hetero_lr"}, "deployed", 2)
        store.log_round(run, 1, {}, 4.0, 2, 0)  # the interrupted attempt's epoch
        reporter = TrainingReporter(EpochRows(store, run, 2, None), COORDINATOR, 3, 1)
        reporter.begin(epochs_done=1)
        for epoch in (1, 2):
            reporter.batch(epoch, 0)
            reporter.epoch_end(epoch, None, stop=epoch == 2)
        kept = store.rounds(run)
        assert [r.round for r in kept] == [1, 2, 3]
        assert kept[0].duration_s == 4.0  # untouched


def test_other_parties_and_stages_record_nothing(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {"algorithm": "hetero_lr"}, "deployed", 2)
        rows = EpochRows(store, run, 2, None)
        TrainingReporter(rows, "bank", 2, 1).epoch_end(0, 0.5, stop=False)
        rows(VerticalProgress(COORDINATOR, "keys", 1, 1, finished=True))
        rows(VerticalProgress(COORDINATOR, "score", 10, 10, finished=True))
        assert store.rounds(run) == []


def test_a_loss_the_coordinator_is_told_is_recorded_with_its_epoch(tmp_path: Path) -> None:
    """Transfer learning's source tells the coordinator each epoch's loss."""
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {"algorithm": "ftl"}, "deployed", 2)
        reporter = TrainingReporter(EpochRows(store, run, 2, None), COORDINATOR, 2, 1)
        reporter.begin()
        for epoch, loss in enumerate((0.9, 0.7)):
            reporter.epoch_end(epoch, loss, stop=epoch == 1)
        assert store.round_metrics(run) == {"train_loss": [(1, 0.9), (2, 0.7)]}
