"""A deployed vertical coordinator records each training epoch as it ends (before, a
deployed run's record held no epochs at all: `rengo runs show` and the dashboard showed
nothing until the run's summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rengo.core.roles import COORDINATOR
from rengo.deploy.vertical_epochs import EpochRows
from rengo.tracking import RunStore
from rengo.tracking.errors import StoreBusyError
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


def test_a_store_busy_at_an_epoch_end_records_that_epoch_with_the_next(tmp_path: Path) -> None:
    """A StoreBusyError from recording an epoch (another process holding the store's lock
    past the wait) was raised into the coordinator's training and stopped the run."""
    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {"algorithm": "hetero_lr"}, "deployed", 2)
        log_round, refused = store.log_round, []

        def busy_once(run_id: str, number: int, *args: Any, **kwargs: Any) -> None:
            if not refused:
                refused.append(number)
                raise StoreBusyError("the run store is busy (test)")
            log_round(run_id, number, *args, **kwargs)

        store.log_round = busy_once  # type: ignore[method-assign]
        rows = EpochRows(store, run, 2, None)
        reporter = TrainingReporter(rows, COORDINATOR, epochs=2, batches=1)
        reporter.begin()
        reporter.batch(0, 0)
        reporter.epoch_end(0, None, stop=False)
        assert store.rounds(run) == [] and rows.epochs.unrecorded == [1]
        reporter.batch(1, 0)
        reporter.epoch_end(1, None, stop=True)
        assert [r.round for r in store.rounds(run)] == [1, 2]
        assert refused == [1] and rows.epochs.unrecorded == []


def test_the_last_epoch_the_store_refused_is_written_as_the_run_ends_or_named(
    tmp_path: Path,
) -> None:
    """A deployed coordinator whose store refused the last epoch's record wrote it never
    (no later epoch came to take it along) and named it nowhere: the run read completed
    with an epoch missing and its held-out metrics went onto the epoch before."""
    from rengo.deploy.vertical import _write_refused_epochs

    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {"algorithm": "hetero_lr"}, "deployed", 2)
        log_round, busy = store.log_round, {"refusals": 1}

        def busy_at_the_last(run_id: str, number: int, *args: Any, **kwargs: Any) -> None:
            if number == 2 and busy["refusals"] > 0:
                busy["refusals"] -= 1
                raise StoreBusyError("the run store is busy (test)")
            log_round(run_id, number, *args, **kwargs)

        store.log_round = busy_at_the_last  # type: ignore[method-assign]
        rows = EpochRows(store, run, 2, None)
        reporter = TrainingReporter(rows, COORDINATOR, epochs=2, batches=1)
        reporter.begin()
        for epoch in range(2):
            reporter.batch(epoch, 0)
            reporter.epoch_end(epoch, None, stop=epoch == 1)
        assert rows.epochs.unrecorded == [2]
        _write_refused_epochs(rows, store, run)  # the store takes it now
        assert [r.round for r in store.rounds(run)] == [1, 2]
        assert rows.epochs.unrecorded == []

        busy["refusals"] = 10**6  # a store that keeps refusing: the epoch is named
        again = store.start_run("vfl-deployed", {"algorithm": "hetero_lr"}, "deployed", 2)
        rows = EpochRows(store, again, 2, None)
        reporter = TrainingReporter(rows, COORDINATOR, epochs=2, batches=1)
        reporter.begin()
        for epoch in range(2):
            reporter.batch(epoch, 0)
            reporter.epoch_end(epoch, None, stop=epoch == 1)
        _write_refused_epochs(rows, store, again)
        (warning,) = [e.message for e in store.events(again, "warning")]
        assert f"epochs 2 of run {again} were not recorded" in warning


def test_an_unwritable_store_at_the_end_of_a_run_that_succeeded_is_raised_not_swallowed(
    tmp_path: Path,
) -> None:
    """The last try at refused epochs kept any refusal as a warning, also when the run
    itself succeeded: an unwritable store then left a completed run with an epoch missing.
    Only a failing run keeps it (so as not to raise it over the run's own error)."""
    import pytest

    from rengo.deploy.vertical import _write_refused_epochs
    from rengo.tracking import StoreUnwritableError

    with RunStore(tmp_path / "runs.db") as store:
        run = store.start_run("vfl-deployed", {"algorithm": "hetero_lr"}, "deployed", 1)
        log_round, calls = store.log_round, []

        def busy_then_unwritable(run_id: str, number: int, *args: Any, **kwargs: Any) -> None:
            calls.append(number)
            if len(calls) == 1:
                raise StoreBusyError("the run store is busy (test)")
            raise StoreUnwritableError("the run store cannot be written (test)")

        store.log_round = busy_then_unwritable  # type: ignore[method-assign]
        rows = EpochRows(store, run, 2, None)
        reporter = TrainingReporter(rows, COORDINATOR, epochs=1, batches=1)
        reporter.begin()
        reporter.batch(0, 0)
        reporter.epoch_end(0, None, stop=True)
        with pytest.raises(StoreUnwritableError):
            _write_refused_epochs(rows, store, run)  # the run succeeded
        _write_refused_epochs(rows, store, run, failing=True)  # kept, named, not raised
        store.log_round = log_round  # type: ignore[method-assign]
        assert any("epochs 1 of run" in e.message for e in store.events(run, "warning"))
