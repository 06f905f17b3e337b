"""Columns need not be standardised first: each party's encoder reads its columns z-scored
with its own rows' mean and spread (which never leave it), so transfer learning on raw
columns (a lab value in the thousands, an age in years) trains and scores as it does on the
same columns standardised. Before, the tanh encoders saturated on raw columns and FTL scored
below the target alone without a word (raw breast-cancer table: AUC 0.85-0.94 against the
target's own logistic regression's 0.96-0.97)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.ftl import TargetModel, TransferClassifier
from rengo.ftl.model_file import read_party_model, write_party_model

ROWS = 160


def _tables(
    source_scale: float, source_shift: float, target_scale: float, target_shift: float
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """A bank of 160 customers and a shop of 160 sharing 80, over columns affinely changed
    from one standard-normal draw; the shop labels 20 of its own."""
    rng = np.random.default_rng(5)
    latent = rng.normal(size=(240, 2))
    y = (latent[:, 0] + 0.5 * latent[:, 1] > 0).astype(int)
    bank_x = latent[:ROWS] @ rng.normal(size=(2, 4)) + 0.3 * rng.normal(size=(ROWS, 4))
    shop_x = latent[80:] @ rng.normal(size=(2, 3)) + 0.3 * rng.normal(size=(ROWS, 3))
    ids = np.array([f"customer-{i:04d}" for i in range(240)])
    tables = {
        "bank": (ids[:ROWS], bank_x * source_scale + source_shift),
        "shop": (ids[80:], shop_x * target_scale + target_shift),
    }
    own = np.full(ROWS, None, dtype=object)
    own[100:120] = y[180:200]
    return tables, y[:ROWS], own


def _fit(tables: dict[str, tuple[np.ndarray, np.ndarray]], y: np.ndarray, own: np.ndarray) -> Any:
    model = TransferClassifier(security="plaintext", seed=0, epochs=3, batch_size=40, dim=4)
    return model.fit(tables, source="bank", y=y, target_labels=own)


def test_raw_columns_train_and_score_as_the_same_columns_standardised() -> None:
    tables, y, own = _tables(1.0, 0.0, 1.0, 0.0)
    raw_tables, _, _ = _tables(250.0, 4000.0, 0.01, -60.0)
    standard, raw = _fit(tables, y, own), _fit(raw_tables, y, own)
    np.testing.assert_allclose(raw.losses_, standard.losses_, rtol=1e-6)
    ids, x = tables["shop"]
    np.testing.assert_allclose(
        raw.predict_proba((ids, raw_tables["shop"][1])), standard.predict_proba((ids, x)), atol=1e-6
    )


def test_a_kept_target_model_scores_raw_rows_as_its_training_run_did(tmp_path: Path) -> None:
    tables, y, own = _tables(250.0, 4000.0, 0.01, -60.0)
    model = _fit(tables, y, own)
    path = write_party_model(tmp_path / "shop.json", model.target_model_, "shop", "bank")
    kept = read_party_model(path, "shop").model
    assert isinstance(kept, TargetModel)
    assert kept.inputs is not None and model.target_model_.inputs is not None
    np.testing.assert_array_equal(kept.inputs.mean, model.target_model_.inputs.mean)
    np.testing.assert_array_equal(kept.inputs.scale, model.target_model_.inputs.scale)
    # the model that was read back, in the estimator's place, scores bit for bit as before
    ids, x = tables["shop"]
    before = model.predict_proba((ids, x))
    model._models = {**model.models_, "shop": kept}  # models_ is a copy
    np.testing.assert_array_equal(model.predict_proba((ids, x)), before)


def test_an_encoder_the_party_brought_reads_its_columns_as_given() -> None:
    """A party's own module may expect its columns as they are (category codes for an
    embedding, say): only the MLPs rengo builds read them z-scored."""
    torch = pytest.importorskip("torch")
    tables, y, own = _tables(1.0, 0.0, 1.0, 0.0)
    torch.manual_seed(0)
    mine = torch.nn.Sequential(torch.nn.Linear(3, 4)).double()
    model = TransferClassifier(security="plaintext", seed=0, epochs=1, batch_size=40, dim=4)
    model.fit(tables, source="bank", y=y, target_labels=own, encoders={"shop": mine})
    assert model.target_model_.inputs is None
    assert model.source_model_.inputs is not None
