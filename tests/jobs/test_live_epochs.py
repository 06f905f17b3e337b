"""A simulated vertical run's epochs in its record: recorded as they end, then rewritten once
training ends into the record a finished run always had (each epoch once, with its own
duration, the held-out metrics on the last), and a store that refuses a write while the
run trains does not stop training."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomllib

from rengo.jobs import build_vertical_job, parse_job, run_vertical_job
from rengo.jobs.vertical import log_vertical_epochs
from rengo.tracking import RunStore
from rengo.tracking.errors import StoreBusyError
from rengo.vfl import VerticalProgress

LR_JOB = """
[job]
kind = "vfl"
name = "lr"
seed = 3
[vfl]
algorithm = "hetero_lr"
dataset = "{dataset}"
num_parties = 2
label_party = "bank"
key_bits = 512
epochs = 3
{extra}
"""


def _test_metrics_by_round(store: RunStore, run_id: str) -> dict[int, set[str]]:
    return {r.round: {k for k in r.metrics if k.startswith("test_")} for r in store.rounds(run_id)}


@pytest.mark.parametrize(
    ("dataset", "extra"),
    [
        ("breast_cancer", "compute_loss = false"),
        ("wine", 'multi_class = "ovr"\ncompute_loss = false'),
    ],
    ids=["binary", "one-vs-rest"],
)
def test_a_model_without_losses_records_each_epoch_once_with_the_metrics_on_the_last(
    tmp_path: Path, dataset: str, extra: str
) -> None:
    """Hetero LR with ``compute_loss = false`` reports its epochs while it trains but keeps
    no losses: the final write put the held-out metrics and the whole training time on
    round 1 and left rounds 2 and 3 as written live (the time counted twice)."""
    job = build_vertical_job(parse_job(tomllib.loads(LR_JOB.format(dataset=dataset, extra=extra))))
    with RunStore(tmp_path / "r.db") as store:
        result = run_vertical_job(job, store, log=lambda _m: None)
        assert result["losses"] == []
        rounds = store.rounds(result["run_id"])
        assert [r.round for r in rounds] == [1, 2, 3]
        by_round = _test_metrics_by_round(store, result["run_id"])
        assert by_round[1] == by_round[2] == set() and by_round[3], by_round
        assert all("train_loss" not in r.metrics for r in rounds)
        assert sum(r.duration_s for r in rounds) <= result["train_seconds"]


def test_log_vertical_epochs_gives_a_model_without_losses_each_timed_epoch(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "r.db") as store:
        run = store.start_run("vfl", {}, "lr", 3)
        log_vertical_epochs(store, run, [], [0.5, 0.25, 0.75], {"test_auc": 0.9}, 2, 1.5)
        rounds = store.rounds(run)
        assert [(r.round, r.duration_s, r.metrics) for r in rounds] == [
            (1, 0.5, {}),
            (2, 0.25, {}),
            (3, 0.75, {"test_auc": 0.9}),
        ]
        untimed = store.start_run("vfl", {}, "lr", 3)  # no epoch timed: one round, as before
        log_vertical_epochs(store, untimed, [], [], {"test_auc": 0.9}, 2, 1.5)
        assert [(r.round, r.duration_s) for r in store.rounds(untimed)] == [(1, 1.5)]


def _refusing(store: RunStore, refuses: Callable[[int], bool]) -> list[int]:
    """Make ``store.log_round`` refuse, as a store busy past its lock timeout does, each
    round ``refuses`` names; returns the rounds it refused, in order."""
    refused: list[int] = []
    log_round = store.log_round

    def busy_log_round(run_id: str, number: int, *args: Any, **kwargs: Any) -> None:
        if refuses(number):
            refused.append(number)
            raise StoreBusyError("the run store is busy (test)")
        log_round(run_id, number, *args, **kwargs)

    store.log_round = busy_log_round  # type: ignore[method-assign]
    return refused


def test_a_store_busy_while_the_run_trains_does_not_stop_training(tmp_path: Path) -> None:
    """Recording an epoch as it ended let a StoreBusyError (another process holding the
    store's lock past the wait, or a full disk) abort training part-way."""
    job = build_vertical_job(
        parse_job(tomllib.loads(LR_JOB.format(dataset="breast_cancer", extra="")))
    )
    store = RunStore(tmp_path / "r.db")
    busy = {"epoch 1": True}
    refused = _refusing(store, lambda number: number == 1 and busy.pop("epoch 1", False))
    seen: dict[int, list[int]] = {}

    def watch(event: VerticalProgress) -> None:
        if event.party == "bank" and event.ends_epoch and event.epoch is not None:
            (run,) = store.list_runs()
            seen[event.epoch] = [r.round for r in store.rounds(run.run_id)]

    with store:
        result = run_vertical_job(job, store, log=lambda _m: None, progress=watch)
        assert refused == [1]
        # epoch 1 waited for the store and was written with epoch 2
        assert seen == {1: [], 2: [1, 2], 3: [1, 2, 3]}
        run = store.get_run(result["run_id"])
        assert run.status == "completed"
        losses = store.round_metrics(run.run_id)["train_loss"]
        assert [epoch for epoch, _ in losses] == [1, 2, 3]


class _Halt(Exception):
    """Stands for whatever stops a run part-way."""


def test_a_failed_run_names_the_epochs_the_store_refused(tmp_path: Path) -> None:
    job = build_vertical_job(
        parse_job(tomllib.loads(LR_JOB.format(dataset="breast_cancer", extra="")))
    )
    store = RunStore(tmp_path / "r.db")
    _refusing(store, lambda number: number >= 2)  # busy from epoch 2 on
    lines: list[str] = []

    def halt_at_epoch_3(event: VerticalProgress) -> None:
        if event.party == "bank" and event.ends_epoch and event.epoch == 3:
            raise _Halt("stopped at epoch 3")

    with store, pytest.raises(_Halt):
        run_vertical_job(job, store, log=lines.append, progress=halt_at_epoch_3)
    with RunStore(tmp_path / "r.db") as again:
        (run,) = again.list_runs()
        assert run.status == "failed"
        assert [r.round for r in again.rounds(run.run_id)] == [1]
    assert any(
        f"epochs 2, 3 of run {run.run_id} were not recorded" in line and "busy (test)" in line
        for line in lines
    ), lines


def test_a_run_failing_after_training_names_the_epochs_the_store_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a failure inside fit named refused epochs: a run that trained, then failed while
    it scored the held-out rows, lost the epoch the store had refused without a word."""
    job = build_vertical_job(
        parse_job(tomllib.loads(LR_JOB.format(dataset="breast_cancer", extra="")))
    )
    store = RunStore(tmp_path / "r.db")
    _refusing(store, lambda number: number == 3)  # the last epoch, whenever it is written
    lines: list[str] = []

    def scoring_fails(*_args: Any, **_kwargs: Any) -> Any:
        raise _Halt("scoring failed")

    monkeypatch.setattr(job.model, "predict_raw", scoring_fails)
    with store, pytest.raises(_Halt):
        run_vertical_job(job, store, log=lines.append)
    with RunStore(tmp_path / "r.db") as again:
        (run,) = again.list_runs()
        assert [r.round for r in again.rounds(run.run_id)] == [1, 2]
    assert any(f"epochs 3 of run {run.run_id} were not recorded" in line for line in lines)


def test_a_run_failing_after_its_final_record_names_no_epoch_it_recorded(
    tmp_path: Path,
) -> None:
    """An epoch the store refused while the run trained is in the run's final record once
    that is written; a step failing after it (the model's checkpoint) made the run retry the
    epoch with its live values over the final ones, or say 'epochs 3 ... were not recorded'
    of an epoch the record held."""
    job = build_vertical_job(
        parse_job(tomllib.loads(LR_JOB.format(dataset="breast_cancer", extra="")))
    )
    store = RunStore(tmp_path / "r.db")
    writes_of_3: list[int] = []

    def refuses(number: int) -> bool:  # the store takes epoch 3 only at the final record
        if number != 3:
            return False
        writes_of_3.append(number)
        return len(writes_of_3) != 2

    _refusing(store, refuses)
    lines: list[str] = []

    def checkpoint_fails(*_args: Any, **_kwargs: Any) -> None:
        raise _Halt("the checkpoint could not be saved")

    store.save_checkpoint = checkpoint_fails  # type: ignore[method-assign]
    with store, pytest.raises(_Halt):
        run_vertical_job(job, store, log=lines.append)
    with RunStore(tmp_path / "r.db") as again:
        (run,) = again.list_runs()
        rounds = again.rounds(run.run_id)
    assert [r.round for r in rounds] == [1, 2, 3]
    assert any(k.startswith("test_") for k in rounds[2].metrics)  # the final record's
    assert not any("were not recorded" in line for line in lines), lines
    assert len(writes_of_3) == 2  # live (refused) and the final record: no retry after it
