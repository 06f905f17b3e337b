"""A simulated vertical run's epochs in its record: recorded as they end, then rewritten once
training ends into the record a finished run always had (each epoch once, with its own
duration, the held-out metrics on the last)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from rengo.jobs import build_vertical_job, parse_job, run_vertical_job
from rengo.jobs.vertical import log_vertical_epochs
from rengo.tracking import RunStore

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
