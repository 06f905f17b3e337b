"""A tiny overlap whose shared customers carry one class of the source's labels is refused,
naming the source, the target, the count and the class (two shared customers of both
classes train: the overlap is the user's to judge), and so is a party without feature
columns, by name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.ftl import TransferClassifier

ROWS = 120


def _fit(shared: int) -> TransferClassifier:
    """The bank's 120 customers; the shop's first ``shared`` are the bank's first ones."""
    rng = np.random.default_rng(0)
    bank = np.array([f"bank-{i:04d}" for i in range(ROWS)])
    shop = np.array([f"shop-{i:04d}" for i in range(ROWS)])
    shop[:shared] = bank[:shared]
    y = np.tile([0, 1], ROWS // 2)  # the first shared customer has label 0, the second 1
    model = TransferClassifier(
        security="plaintext", seed=0, dim=2, source_hidden="", target_hidden="", epochs=1
    )
    return model.fit(
        {"bank": (bank, rng.normal(size=(ROWS, 3))), "shop": (shop, rng.normal(size=(ROWS, 3)))},
        source="bank",
        y=y,
    )


def test_one_shared_customer_is_refused_naming_both_parties_and_the_class() -> None:
    with pytest.raises(DataError, match=r"^bank: the 1 customer\(s\) it shares with shop all "):
        _fit(shared=1)


def test_two_shared_customers_of_both_classes_train() -> None:
    model = _fit(shared=2)
    assert len(model.losses_) == 1 and np.isfinite(model.losses_).all()


@pytest.mark.parametrize("party", ["bank", "shop"])
def test_a_party_without_feature_columns_is_named(party: str) -> None:
    """It said 'an encoder needs >= 1 input and output, got 0 -> 2', naming no party."""
    rng = np.random.default_rng(0)
    ids = np.array([f"customer-{i:04d}" for i in range(40)])
    tables = {name: (ids, rng.normal(size=(40, 3))) for name in ("bank", "shop")}
    tables[party] = (ids, np.empty((40, 0)))
    model = TransferClassifier(security="plaintext", seed=0, dim=2, epochs=1)
    with pytest.raises(DataError, match=rf"^{party}: its table has no feature column"):
        model.fit(tables, source="bank", y=np.tile([0, 1], 20))


def test_a_small_overlap_is_not_warned_as_ids_written_two_ways() -> None:
    """Transfer learning learns from each party's rows beyond the few shared ones: PSI's
    warning for parties that match under half their rows ("the other N take no part in the
    run") is for algorithms that train on the intersection only."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(shared=10)
    assert not [w for w in caught if "PSI matched only" in str(w.message)]
