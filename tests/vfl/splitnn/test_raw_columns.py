"""Columns need not be standardised first: each party's bottom model reads its columns
z-scored with the mean and spread of its own training rows (which never leave it), so split
learning on raw columns (an income in the thousands, a ratio near 0.01) trains and scores as
it does on the same columns standardised. Before, the ReLU bottom models read raw columns
as given and SplitNN scored lower without a word (scikit-learn's raw breast-cancer table,
15/15 columns, 12 epochs: median held-out AUC 0.919 against 0.983 standardised,
``benchmarks/splitnn_raw_columns.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from transcript_search import plain_numbers

from rengo.vfl import SplitNNClassifier
from rengo.vfl.splitnn import SplitNNFeatureModel, SplitNNLabelModel
from rengo.vfl.splitnn.model_file import read_party_model, write_party_model

ROWS = 240


def _tables(
    bank_scale: float, bank_shift: float, shop_scale: float, shop_shift: float
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """A bank (the label party, 3 columns) and a shop (4 columns) of the same 240 customers,
    over columns affinely changed from one standard-normal draw; the shop's last column is
    constant (its spread is 0)."""
    rng = np.random.default_rng(7)
    latent = rng.normal(size=(ROWS, 2))
    y = (latent[:, 0] - 0.7 * latent[:, 1] > 0).astype(int)
    bank_x = latent @ rng.normal(size=(2, 3)) + 0.3 * rng.normal(size=(ROWS, 3))
    shop_x = latent @ rng.normal(size=(2, 4)) + 0.3 * rng.normal(size=(ROWS, 4))
    shop_x[:, 3] = 2.0
    ids = np.array([f"customer-{i:04d}" for i in range(ROWS)])
    tables = {
        "bank": (ids, bank_x * bank_scale + bank_shift),
        "shop": (ids, shop_x * shop_scale + shop_shift),
    }
    return tables, y


def _fit(tables: dict[str, tuple[np.ndarray, np.ndarray]], y: np.ndarray) -> Any:
    model = SplitNNClassifier(epochs=3, batch_size=40, learning_rate=0.01, seed=0)
    return model.fit(tables, "bank", y)


RAW = (250.0, 4000.0, 0.01, -60.0)
"""The raw columns: the bank's in the thousands, the shop's spread of 0.01 around -60."""


def test_raw_columns_train_and_score_as_the_same_columns_standardised() -> None:
    tables, y = _tables(1.0, 0.0, 1.0, 0.0)
    raw_tables, _ = _tables(*RAW)
    standard, raw = _fit(tables, y), _fit(raw_tables, y)
    np.testing.assert_allclose(raw.losses_, standard.losses_, rtol=1e-5)
    _, raw_scores = raw.predict_proba(raw_tables)
    _, standard_scores = standard.predict_proba(tables)
    np.testing.assert_allclose(raw_scores, standard_scores, atol=1e-5)


def test_each_party_keeps_its_own_rows_scaling_and_a_constant_column_is_only_centred() -> None:
    tables, y = _tables(*RAW)
    model = _fit(tables, y)
    kept = {"bank": model.label_model_.inputs, "shop": model.feature_models_["shop"].inputs}
    for party, inputs in kept.items():
        x = tables[party][1]  # every row is shared: the training rows are the whole table
        assert inputs is not None
        np.testing.assert_allclose(inputs.mean, x.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(inputs.scale[:3], x.std(axis=0)[:3], rtol=1e-12)
    shop = kept["shop"]
    assert shop is not None and shop.scale[3] == 1.0  # spread 0: not divided by zero
    assert np.isfinite(model.losses_).all()


def test_the_scaling_never_leaves_its_party() -> None:
    tables, y = _tables(*RAW)
    model = _fit(tables, y)
    model.predict_proba(tables)
    kept = [model.label_model_.inputs, model.feature_models_["shop"].inputs]
    statistics = np.concatenate([a for s in kept if s is not None for a in (s.mean, s.scale)])
    statistics = statistics[statistics != 1.0]  # the constant column's scale, no statistic
    sent = plain_numbers([*model.transcript_, *model.predict_run_.transcript])
    assert not np.isin(sent, statistics).any()
    assert not np.isin(sent.astype(np.float32), statistics.astype(np.float32)).any()


def test_kept_model_files_score_raw_rows_as_their_training_run_did(tmp_path: Path) -> None:
    tables, y = _tables(*RAW)
    model = _fit(tables, y)
    bank = read_party_model(
        write_party_model(tmp_path / "bank.json", model.label_model_, "bank", "bank"), "bank"
    ).model
    shop = read_party_model(
        write_party_model(tmp_path / "shop.json", model.feature_models_["shop"], "shop", "bank"),
        "shop",
    ).model
    assert isinstance(bank, SplitNNLabelModel) and isinstance(shop, SplitNNFeatureModel)
    for back, trained in ((bank, model.label_model_), (shop, model.feature_models_["shop"])):
        assert back.inputs is not None and trained.inputs is not None
        np.testing.assert_array_equal(back.inputs.mean, trained.inputs.mean)
        np.testing.assert_array_equal(back.inputs.scale, trained.inputs.scale)
    _, before = model.predict_proba(tables)
    model._models = {**model.models_, "bank": bank, "shop": shop}  # the files' models in place
    _, after = model.predict_proba(tables)
    np.testing.assert_array_equal(after, before)
