"""FederatedDataset access and the statistics shown to users."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.data import Dataset, from_partition, label_entropy


def _table() -> Dataset:
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.array([0, 0, 1, 1, 2, 2])
    return Dataset(X=X, y=y, feature_names=("a", "b"), classes=("x", "y", "z"), name="toy")


def test_label_entropy_is_zero_for_one_class_and_log2k_for_uniform() -> None:
    assert label_entropy(np.array([5, 0, 0])) == 0.0
    assert label_entropy(np.array([3, 3, 3, 3])) == pytest.approx(2.0)
    assert label_entropy(np.zeros(3)) == 0.0


def test_client_access_by_index_and_name_and_histograms() -> None:
    fed = from_partition(_table(), [np.array([0, 1]), np.array([2, 3, 4, 5])])
    assert fed.client_ids == ("client-0", "client-1")
    np.testing.assert_array_equal(fed.client(1).X, fed.client("client-1").X)
    np.testing.assert_array_equal(fed.client(-1).y, [1, 1, 2, 2])
    np.testing.assert_array_equal(fed.sizes(), [2, 4])
    np.testing.assert_array_equal(fed.label_histograms(), [[2, 0, 0], [0, 2, 2]])
    summary = fed.summary()
    assert summary[0].label_counts == (2, 0, 0) and summary[0].label_entropy == 0.0
    assert summary[1].size == 4 and summary[1].label_entropy == pytest.approx(1.0)
    assert fed.mean_label_entropy() == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="no client"):
        fed.client("client-9")
    with pytest.raises(ConfigError, match="out of range"):
        fed.client(2)


def test_a_client_name_that_is_none_says_what_the_names_are_and_spots_an_index() -> None:
    """simulate(client_fn, 300, ...) passes ids "0".."299"; every fed.client(cid) failed
    with "no client '0'" and no word on what the ids are."""
    fed = from_partition(_table(), [np.array([0, 1]), np.array([2, 3]), np.array([4, 5])])
    with pytest.raises(ConfigError) as caught:
        fed.client("1")
    assert str(caught.value) == (
        "toy: no client '1' (its 3 clients: client-0, client-1, ..., client-2; '1' looks like "
        "an index: pass fed.client_ids to simulate, or use fed.client(int(cid)))"
    )
    with pytest.raises(ConfigError, match=r"no client 'bank' \(its 3 clients: client-0, .*\)$"):
        fed.client("bank")
