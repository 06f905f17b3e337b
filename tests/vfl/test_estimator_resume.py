"""``checkpoints=DIR`` / ``resume=`` on the vertical estimators: a fit interrupted after
epoch (or tree) k and fitted again with ``resume`` ends with the very model and predictions
an uninterrupted fit gives; a resume that cannot be honoured says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from rengo.core.errors import ConfigError
from rengo.core.roles import COORDINATOR
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.checkpoints import PASSPHRASE_ENV, CheckpointFolder
from rengo.vfl.secureboost import HeteroSecureBoost

ROWS = 80


def parties() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(ROWS, 4))
    y = (x @ np.array([1.0, -0.7, 0.5, 0.8]) > 0).astype(np.int64)
    ids = np.array([f"c{i:03d}" for i in range(ROWS)], dtype=object)
    return {"card": (ids, x[:, :2]), "bank": (ids[::-1], x[::-1, 2:])}, y


def fitted_state(model: Any) -> tuple[Any, ...]:
    data, _ = parties()
    ids, scores = model.predict_proba(data, "card")
    return tuple(ids), scores.tobytes()


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("estimator", "options", "who"),
    [
        (HeteroSecureBoost, {"n_trees": 3, "max_depth": 2, "key_bits": 512}, "bank"),
        (HeteroLogisticRegression, {"epochs": 3, "batch_size": 32, "key_bits": 512}, "card"),
    ],
)
def test_a_fit_interrupted_after_epoch_k_resumes_to_the_uninterrupted_model(
    estimator: Any,
    options: dict[str, Any],
    who: str,
    tmp_path: Path,
    crash_after: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "kept apart from the disk")
    data, y = parties()
    reference = estimator(seed=5, **options).fit(data, "card", y)

    interrupted = estimator(seed=5, checkpoints=tmp_path, **options)
    crash_after(who, 2)
    with pytest.raises(crash_after.error):
        interrupted.fit(data, "card", y)
    crash_after("nobody", 0)
    run = interrupted.checkpoint_run_
    assert CheckpointFolder(tmp_path, run, who, estimator.spec.name).epochs() == [1, 2]

    again = clone(interrupted).set_params(resume=run)
    again.fit(data, "card", y)
    assert again.checkpoint_run_ == run
    assert again.fit_run_.coordinator.resumed_after in (1, 2)
    assert fitted_state(again) == fitted_state(reference)
    if estimator is HeteroLogisticRegression:
        keys = CheckpointFolder(tmp_path, run, COORDINATOR, "hetero_lr").path / "keys.sealed"
        assert keys.exists()  # the coordinator's key pair, sealed

    newest = estimator(seed=5, checkpoints=tmp_path, resume=True, **options).fit(data, "card", y)
    assert newest.checkpoint_run_ == run  # the finished run's checkpoints give its model again
    assert fitted_state(newest) == fitted_state(reference)


def test_a_resume_that_cannot_be_honoured_says_why(tmp_path: Path) -> None:
    data, y = parties()
    with pytest.raises(ConfigError, match="give checkpoints=DIR too"):
        HeteroSecureBoost(resume="fit-1", key_bits=512).fit(data, "card", y)
    with pytest.raises(ConfigError, match="holds no checkpoints of that run"):
        HeteroSecureBoost(checkpoints=tmp_path, resume="fit-1", key_bits=512).fit(data, "card", y)
    with pytest.raises(ConfigError, match="holds no checkpointed run"):
        HeteroSecureBoost(checkpoints=tmp_path, resume=True, key_bits=512).fit(data, "card", y)
    model = HeteroSecureBoost(checkpoints=tmp_path, resume=True)
    assert model.get_params()["checkpoints"] == tmp_path
    assert "resume=True" in repr(model)


@pytest.mark.parametrize("passphrase", [None, "short"])
def test_a_fit_refused_for_its_passphrase_leaves_no_checkpoint_folder(
    passphrase: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a passphrase (or with one too short to seal under) the coordinator wrote
    ``<run>/coordinator/plan.json`` before refusing to seal its key, so the refused fit
    left a run folder behind, the newest one ``resume=True`` would then pick."""
    if passphrase is None:
        monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    else:
        monkeypatch.setenv(PASSPHRASE_ENV, passphrase)
    data, y = parties()
    model = HeteroLogisticRegression(epochs=1, key_bits=512, checkpoints=tmp_path)
    with pytest.raises(ConfigError, match="passphrase"):
        model.fit(data, "card", y)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="holds no checkpointed run"):
        HeteroLogisticRegression(key_bits=512, checkpoints=tmp_path, resume=True).fit(
            data, "card", y
        )
