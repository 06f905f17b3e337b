"""Vertical splits: each party its own columns and rows; only the label party holds y."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.data import load_breast_cancer, vertical_split

CANCER = load_breast_cancer()


def test_parties_cover_all_columns_once_and_id_sets_differ() -> None:
    parties = vertical_split(CANCER, 3, seed=0, drop_fraction=0.1)
    names = [f for p in parties for f in p.feature_names]
    assert sorted(names) == sorted(CANCER.feature_names) and len(names) == 30
    id_sets = [set(p.ids) for p in parties]
    assert all(len(s) == 569 - 57 for s in id_sets)
    assert id_sets[0] != id_sets[1] and id_sets[1] != id_sets[2] and id_sets[0] != id_sets[2]
    assert len(set.intersection(*id_sets)) < 569 - 57


def test_only_the_label_party_holds_labels() -> None:
    parties = vertical_split(CANCER, 3, seed=0, label_party=1)
    assert [p.has_labels for p in parties] == [False, True, False]
    assert parties[1].classes == CANCER.classes
    assert parties[0].to_dataset().y is None


def test_party_rows_match_the_source_rows_by_id() -> None:
    parties = vertical_split(CANCER, [["mean radius", "mean area"], [5, 6, 7]], seed=3,
                             drop_fraction=[0.2, 0.3], names=["bank", "shop"])  # fmt: skip
    bank, shop = parties
    assert bank.name == "bank" and shop.feature_names == CANCER.feature_names[5:8]
    rows = bank.ids.astype(int)
    np.testing.assert_array_equal(bank.X, CANCER.X[rows][:, [0, 3]])
    np.testing.assert_array_equal(bank.y, CANCER.y[rows])
    np.testing.assert_array_equal(shop.X, CANCER.X[shop.ids.astype(int)][:, 5:8])
    assert len(bank) == 569 - 114 and len(shop) == 569 - 171


def test_vertical_split_is_seeded() -> None:
    a = vertical_split(CANCER, 2, seed=5, drop_fraction=0.3)
    b = vertical_split(CANCER, 2, seed=5, drop_fraction=0.3)
    c = vertical_split(CANCER, 2, seed=6, drop_fraction=0.3)
    np.testing.assert_array_equal(a[1].ids, b[1].ids)
    assert not np.array_equal(a[1].ids, c[1].ids)


def test_label_party_may_hold_no_features() -> None:
    parties = vertical_split(CANCER, [[], list(CANCER.feature_names)], seed=0)
    assert parties[0].X.shape == (569, 0) and parties[0].has_labels


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parties": 31}, "cannot each get a column"),
        ({"parties": [["mean radius"], ["mean radius"]]}, "already in another group"),
        ({"parties": [["nope"]]}, "no feature 'nope'"),
        ({"parties": [["mean radius"], []]}, "party 1 has no columns"),
        ({"parties": 2, "drop_fraction": [0.1]}, "drop_fraction needs 2 values"),
        ({"parties": 2, "drop_fraction": 1.0}, "drop_fraction"),
        ({"parties": 2, "label_party": 2}, "label_party"),
    ],
)
def test_bad_vertical_split_arguments_raise_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        vertical_split(CANCER, seed=0, **kwargs)


@pytest.mark.parametrize("bad", [1.5, True, -1, 3])
def test_a_label_party_that_is_not_a_party_number_is_refused(bad: object) -> None:
    """label_party=1.5 was accepted and no party got the labels."""
    with pytest.raises(ConfigError, match=r"label_party must be a party number 0\.\.2"):
        vertical_split(CANCER, 3, seed=0, label_party=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"target_labels": -1}, "target_labels must be a whole number >= 0, got -1"),
        ({"target_labels": 2.5}, "target_labels must be a whole number >= 0, got 2.5"),
        ({"source_columns": [1.7]}, "has no column 1.7 (a column is a name or a position"),
        ({"source_columns": [True]}, "has no column True"),
    ],
)
def test_a_transfer_split_refuses_counts_and_columns_that_are_not_whole(
    options: dict[str, object], said: str
) -> None:
    """target_labels=-1 raised numpy's 'negative dimensions are not allowed', 2.5 a
    TypeError; column 1.7 and True were silently taken as column 1."""
    from rengo.data import transfer_split

    settings: dict[str, object] = {"source_columns": [0, 1, 2], "seed": 0, **options}
    with pytest.raises(ConfigError, match=re.escape(said)):
        transfer_split(CANCER, **settings)  # type: ignore[arg-type]
