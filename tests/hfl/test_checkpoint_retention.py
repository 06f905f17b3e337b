"""Which round checkpoints a run keeps: the latest by default (all resume needs), the newest
N, and every K-th round for good; refused settings name the option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rengo.core.errors import ConfigError
from rengo.hfl import CheckpointRetention, FedAvg, LogisticRegressionClient, simulate, softmax_init
from rengo.tracking import RunStore


def _client(cid: str) -> LogisticRegressionClient:
    rng = np.random.default_rng(int(cid))
    X = rng.normal(size=(20, 3))
    return LogisticRegressionClient(X, (X[:, 0] > 0).astype(np.int64), lr=0.1, batch_size=10)


@pytest.mark.parametrize(
    ("retention", "kept"),
    [
        (None, [6]),
        (CheckpointRetention(keep_last=2), [5, 6]),
        (CheckpointRetention(every=2), [2, 4, 6]),
        (CheckpointRetention(keep_last=2, every=4), [4, 5, 6]),
    ],
)
def test_a_run_keeps_only_the_checkpoints_asked_for(
    tmp_path: Path, retention: CheckpointRetention | None, kept: list[int]
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(
            _client, 2, FedAvg(), softmax_init(3, 2), 6, store=store, checkpoints=retention
        )
        assert history.run_id is not None
        assert store.checkpoint_rounds(history.run_id) == kept


@given(
    st.lists(st.integers(1, 60), min_size=1, unique=True),
    st.integers(1, 5),
    st.integers(0, 7),
)
def test_retention_always_keeps_the_latest_and_every_kth(
    rounds: list[int], keep_last: int, every: int
) -> None:
    policy = CheckpointRetention(keep_last=keep_last, every=every)
    dropped = set(policy.rounds_to_drop(rounds))
    kept = set(rounds) - dropped
    assert max(rounds) in kept
    assert (
        sorted(kept, reverse=True)[: min(keep_last, len(rounds))]
        == sorted(rounds, reverse=True)[: min(keep_last, len(rounds))]
    )
    if every:
        assert {r for r in rounds if r % every == 0} <= kept
    assert len(kept - {r for r in rounds if every and r % every == 0}) <= keep_last


def test_bad_settings_name_the_option() -> None:
    with pytest.raises(ConfigError, match="keep_last must be >= 1"):
        CheckpointRetention(keep_last=0)
    with pytest.raises(ConfigError, match="every must be >= 0"):
        CheckpointRetention(every=-1)
