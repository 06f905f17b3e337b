"""Loaders for the optional shared data (FEMNIST, UCI Adult, FATE tables); skipped when absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.data import load_fate_table, load_femnist, load_uci_adult, shared_data_dir


def test_missing_shared_folder_names_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENGO_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="RENGO_SHARED_DATA"):
        shared_data_dir()
    with pytest.raises(DataError, match="not found"):
        load_femnist()


@pytest.mark.shared_data
def test_femnist_is_partitioned_by_writer_with_matched_test_rows(femnist_dir: Path) -> None:
    fed = load_femnist(max_writers=7, root=femnist_dir)
    assert fed.num_clients == 7
    assert fed.client_ids[:3] == ("f3313_11", "f3137_47", "f3135_37")
    first = fed.client(0)
    assert len(first) == 155 and first.num_classes == 62 and first.images().shape[1:] == (28, 28)
    assert first.X.min() >= 0.0 and first.X.max() <= 1.0 and first.X.mean() > 0.8
    assert fed.client_tests is not None and set(fed.client_tests) == set(fed.client_ids)
    assert fed.test is not None
    assert len(fed.test) == sum(len(d) for d in fed.client_tests.values())
    assert fed.label_histograms().shape == (7, 62)


@pytest.mark.shared_data
def test_uci_adult_one_hot_encodes_with_train_categories(adult_dir: Path) -> None:
    train, test = load_uci_adult(adult_dir)
    assert len(train) == 32561 - 2399 and len(test) == 16281 - 1221
    assert train.feature_names == test.feature_names
    assert "native-country=United-States" in train.feature_names
    assert train.classes == ("<=50K", ">50K")
    np.testing.assert_array_equal(test.label_counts(), [11360, 3700])
    block = [j for j, f in enumerate(train.feature_names) if f.startswith("race=")]
    np.testing.assert_array_equal(train.X[:, block].sum(axis=1), np.ones(len(train)))
    full, _ = load_uci_adult(adult_dir, drop_missing=False)
    assert len(full) == 32561 and "workclass=?" in full.feature_names


@pytest.mark.shared_data
def test_fate_tables_load_with_ids_and_labels(fate_dir: Path) -> None:
    guest = load_fate_table("breast_hetero_guest", fate_dir)
    host = load_fate_table("breast_hetero_host", fate_dir)
    assert guest.X.shape == (569, 10) and host.X.shape == (569, 20)
    assert host.y is None and guest.classes == ("0", "1")
    assert set(guest.ids) == set(host.ids)
    assert round(guest.labels().mean(), 3) == 0.627
    student = load_fate_table("student_homo_guest", fate_dir)
    assert student.classes is None and student.y.dtype == np.float64
    with pytest.raises(ConfigError, match=r"valid names: .*breast_hetero_guest"):
        load_fate_table("breast", fate_dir)
