"""A SecureBoost model kept as one versioned JSON file per party: read back, the parties
score new rows bit for bit as the fitted model did; the label party's file holds no feature
party's threshold; a corrupt, foreign or other-version file, or files of different training
runs, are refused naming the file or the runs; and the first trees of a model (the best
round's ensemble) predict as a model grown that far."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import HeteroSecureBoost
from rengo.vfl.secureboost import read_party_model, write_party_model


def _parties(rows: slice) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, _y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"c{i}" for i in range(len(x))])
    bank = x[rows, :12].copy()
    bank[::7, 3] = np.nan  # empty cells take the direction each split learned
    return {"bank": (ids[rows], bank), "telecom": (ids[rows], x[rows, 12:])}


def _fit(**options: Any) -> HeteroSecureBoost:
    _x, y = load_breast_cancer(return_X_y=True)
    settings: dict[str, Any] = {"key_bits": 512, "key_seed": 4, "seed": 1, "max_depth": 3}
    settings.update(options)
    model = HeteroSecureBoost(**settings)
    model.fit(_parties(slice(0, 400)), label_party="bank", y=y[:400])
    return model


@pytest.fixture(scope="module")
def fitted() -> HeteroSecureBoost:
    return _fit(n_trees=4)


def _write_all(model: HeteroSecureBoost, folder: Path) -> dict[str, Path]:
    paths = {}
    for party, part in {model.label_party_: model.guest_model_, **model.host_models_}.items():
        paths[party] = write_party_model(folder / f"{party}.json", part, party, "bank")
    return paths


def test_a_model_read_back_from_its_party_files_predicts_bit_for_bit(
    fitted: HeteroSecureBoost, tmp_path: Path
) -> None:
    paths = _write_all(fitted, tmp_path)
    loaded = HeteroSecureBoost.from_party_models(read_party_model(p) for p in paths.values())
    new = _parties(slice(400, None))
    ids, expected = fitted.predict_proba(new)
    loaded_ids, got = loaded.predict_proba(new)
    assert np.array_equal(ids, loaded_ids)
    assert np.array_equal(got, expected)  # bit for bit, not approximately
    assert loaded.n_trees_ == fitted.n_trees_ == 4
    with pytest.raises(AttributeError, match="set by fit, not by from_party_models"):
        _ = loaded.coordinator_report_  # no coordinator took part: said, not a KeyError


def test_the_label_partys_file_holds_no_feature_partys_threshold(
    fitted: HeteroSecureBoost, tmp_path: Path
) -> None:
    paths = _write_all(fitted, tmp_path)
    guest = json.loads(paths["bank"].read_text())
    host_thresholds = {s.threshold for s in fitted.host_models_["telecom"].splits}
    host_nodes = [n for tree in guest["trees"] for n in tree if n["owner"] == "telecom"]
    assert host_nodes and host_thresholds  # the trees do split on the telecom's columns
    assert all(n["threshold"] == "nan" and n["feature"] == -1 for n in host_nodes)
    host = json.loads(paths["telecom"].read_text())
    assert set(host) >= {"splits", "feature_ids"} and "trees" not in host


def test_a_corrupt_file_is_refused_naming_the_file(
    fitted: HeteroSecureBoost, tmp_path: Path
) -> None:
    path = _write_all(fitted, tmp_path)["bank"]
    path.write_text(path.read_text()[:200])
    with pytest.raises(DataError, match=rf"{path.name}: not JSON \(corrupt or truncated\?\)"):
        read_party_model(path)


def test_a_file_of_another_version_is_refused_naming_the_file_and_version(
    fitted: HeteroSecureBoost, tmp_path: Path
) -> None:
    path = _write_all(fitted, tmp_path)["telecom"]
    document = json.loads(path.read_text())
    document["version"] = 99
    path.write_text(json.dumps(document))
    with pytest.raises(
        DataError, match=rf"{path.name}: SecureBoost model version 99; .*reads version 1"
    ):
        read_party_model(path)


def test_a_file_of_another_party_is_refused_naming_both(
    fitted: HeteroSecureBoost, tmp_path: Path
) -> None:
    path = _write_all(fitted, tmp_path)["telecom"]
    with pytest.raises(
        DataError, match=rf"{path.name}: the model of party 'telecom', not of 'bank'"
    ):
        read_party_model(path, party="bank")


def test_a_malformed_tree_is_refused_naming_the_file_and_tree(
    fitted: HeteroSecureBoost, tmp_path: Path
) -> None:
    path = _write_all(fitted, tmp_path)["bank"]
    document = json.loads(path.read_text())
    document["trees"][1][0]["left"] = 99
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=rf"{path.name}: the label_party model .*tree 1, node 0"):
        read_party_model(path)


def test_party_files_of_two_different_runs_are_refused(
    fitted: HeteroSecureBoost, tmp_path: Path
) -> None:
    other = _fit(n_trees=4, max_depth=2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _write_all(fitted, tmp_path / "a")
    second = _write_all(other, tmp_path / "b")
    with pytest.raises(DataError, match="different runs"):
        HeteroSecureBoost.from_party_models(
            [read_party_model(first["bank"]), read_party_model(second["telecom"])]
        )


def test_party_files_naming_different_training_runs_are_refused_even_with_trees_alike(
    fitted: HeteroSecureBoost, tmp_path: Path
) -> None:
    """Before, only the trees' shape told two runs apart: files of two training runs whose
    trees had the same nodes scored together, each party routing rows through splits the
    other party's run never learned with them."""
    paths = {}
    for party, part, token in (
        ("bank", fitted.guest_model_, "a" * 32),
        ("telecom", fitted.host_models_["telecom"], "b" * 32),
    ):
        path = tmp_path / f"{party}.json"
        paths[party] = write_party_model(path, part, party, "bank", training_run=token)
    with pytest.raises(DataError, match=r"different training runs \(bank: run a{8}; telecom: "):
        HeteroSecureBoost.from_party_models(read_party_model(p) for p in paths.values())


def test_the_first_trees_predict_as_a_model_grown_that_far(fitted: HeteroSecureBoost) -> None:
    shorter = _fit(n_trees=2)
    new = _parties(slice(400, None))
    cut = fitted.first_trees(2)
    assert cut.n_trees_ == 2 and fitted.n_trees_ == 4  # the original is left whole
    assert np.array_equal(cut.predict_proba(new)[1], shorter.predict_proba(new)[1])
    with pytest.raises(ConfigError, match=r"n_trees must be in \[1, 4\]"):
        fitted.first_trees(5)


def test_the_best_rounds_ensemble_is_the_first_best_round_trees() -> None:
    model = _fit(n_trees=30, learning_rate=0.9, validation_fraction=0.3, n_iter_no_change=2)
    assert model.best_round_ < model.n_trees_  # early stopping kept trees past the best
    best = model.first_trees(model.best_round_)
    assert best.n_trees_ == model.best_round_
    assert best.guest_model_.trees == model.guest_model_.trees[: model.best_round_]
    new = _parties(slice(400, None))
    assert not np.array_equal(best.predict_proba(new)[1], model.predict_proba(new)[1])


@pytest.mark.parametrize("objective", ["multiclass", "regression"])
def test_multiclass_and_regression_models_read_back_predict_bit_for_bit(
    objective: str, tmp_path: Path
) -> None:
    loader = load_wine if objective == "multiclass" else load_diabetes
    x, y = loader(return_X_y=True)
    ids = np.array([f"c{i}" for i in range(len(x))])
    half = x.shape[1] // 2
    parties = {"bank": (ids, x[:, :half]), "telecom": (ids, x[:, half:])}
    model = HeteroSecureBoost(
        key_bits=512, key_seed=1, seed=0, n_trees=3, max_depth=2, objective=objective
    )
    model.fit(parties, label_party="bank", y=y)
    loaded = HeteroSecureBoost.from_party_models(
        read_party_model(path) for path in _write_all(model, tmp_path).values()
    )
    assert np.array_equal(loaded.predict_raw(parties)[1], model.predict_raw(parties)[1])
    assert np.array_equal(loaded.predict(parties)[1], model.predict(parties)[1])
