"""SecureBoost's progress speaks of trees and their depth: a bar that moves level by level
inside a tree (one tree of 30,000 rows takes seconds to minutes at 2048-bit keys) and says
"tree t/n", not "epoch"."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from rengo.vfl import VerticalProgress
from rengo.vfl.secureboost import HeteroSecureBoost

X, Y = load_breast_cancer(return_X_y=True)
IDS = np.array([f"c{i:03d}" for i in range(len(Y))])
DATA = {"card": (IDS, X[:, :10]), "bank": (IDS, X[:, 10:])}


def test_training_progress_reports_each_depth_level_of_each_tree() -> None:
    events: list[VerticalProgress] = []
    model = HeteroSecureBoost(
        key_bits=512, n_trees=3, max_depth=3, seed=1, key_seed=1, progress=events.append
    )
    model.fit(DATA, "card", Y)
    train = [e for e in events if e.stage == "train"]
    assert {e.unit for e in train} == {"tree"}
    first = [e.detail for e in train if e.epoch == 1 and not e.finished]
    assert first[:3] == ["depth 1/3", "depth 2/3", "depth 3/3"]
    done = [e.done for e in train]
    assert done == sorted(done) and done[0] == 1
    assert train[-1].finished and train[-1].done == train[-1].total == 3 * 3
    assert train[-1].loss == pytest.approx(model.train_losses_[-1])


def test_the_progress_bar_counts_trees_not_epochs(capsys: pytest.CaptureFixture[str]) -> None:
    HeteroSecureBoost(key_bits=512, n_trees=2, max_depth=2, seed=1, key_seed=1, progress=True).fit(
        DATA, "card", Y
    )
    out = capsys.readouterr().out
    assert "tree 2/2" in out and "epoch" not in out


def test_with_a_validation_share_each_tree_reports_the_validation_loss_that_stops_it() -> None:
    events: list[VerticalProgress] = []
    model = HeteroSecureBoost(
        key_bits=512,
        n_trees=3,
        max_depth=2,
        validation_fraction=0.2,
        n_iter_no_change=2,
        seed=1,
        key_seed=1,
        progress=events.append,
    )
    model.fit(DATA, "card", Y)
    ends = [e for e in events if e.stage == "train" and e.ends_epoch and e.party == "card"]
    assert [e.validation_loss for e in ends] == pytest.approx(model.validation_losses_)
    assert [e.loss for e in ends] == pytest.approx(model.train_losses_)


def test_the_progress_bar_shows_the_validation_loss_with_a_validation_share(
    capsys: pytest.CaptureFixture[str],
) -> None:
    HeteroSecureBoost(
        key_bits=512,
        n_trees=2,
        max_depth=2,
        validation_fraction=0.2,
        n_iter_no_change=2,
        seed=1,
        key_seed=1,
        progress=True,
    ).fit(DATA, "card", Y)
    assert "validation loss" in capsys.readouterr().out
