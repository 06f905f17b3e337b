"""A party that scores a table of another column count than it trained on is refused, naming
the party, by every vertical estimator (before, SecureBoost routed rows by whatever column
now stood at a split's index and returned other predictions without a word; the linear
models failed inside numpy's matmul). Party names follow the one party-name rule (SecureBoost
took a party named "" for no party at all and silently dropped its splits)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.vfl import (
    HeteroLinearRegression,
    HeteroLogisticRegression,
    HeteroPoissonRegression,
    HeteroSecureBoost,
)

RNG = np.random.default_rng(4)
ROWS = 60
X = RNG.normal(size=(ROWS, 4))
Y = (X @ np.array([1.0, -1.0, 0.8, 0.6]) > 0).astype(float)
COUNTS = RNG.poisson(np.exp(0.3 * X[:, 0] - 0.2 * X[:, 2])).astype(float)
IDS = np.array([f"c{i:03d}" for i in range(ROWS)])
LINEAR = {"key_bits": 512, "epochs": 2, "batch_size": 30, "seed": 0, "key_seed": 1}


def _data(card: np.ndarray | None = None, bank: np.ndarray | None = None) -> dict[str, Any]:
    return {
        "card": (IDS, X[:, :2] if card is None else card),
        "bank": (IDS, X[:, 2:] if bank is None else bank),
    }


def _fitted(kind: str) -> Any:
    if kind == "logistic":
        return HeteroLogisticRegression(**LINEAR).fit(_data(), "card", Y)
    if kind == "linear":
        return HeteroLinearRegression(**LINEAR).fit(_data(), "card", X @ [1.0, 0.5, -0.5, 0.2])
    if kind == "poisson":
        return HeteroPoissonRegression(**LINEAR).fit(_data(), "card", COUNTS)
    return HeteroSecureBoost(
        key_bits=512, n_trees=2, max_depth=2, max_bin=8, seed=0, key_seed=1
    ).fit(_data(), "card", Y)


@pytest.fixture(scope="module", params=["logistic", "linear", "poisson", "secureboost"])
def fitted(request: pytest.FixtureRequest) -> Any:
    return _fitted(request.param)


def test_the_trained_column_counts_still_score(fitted: Any) -> None:
    assert len(fitted.predict(_data()).values) == ROWS


@pytest.mark.parametrize(
    ("party", "table", "columns"),
    [
        ("bank", np.c_[RNG.normal(size=ROWS), X[:, 2:]], 3),  # a column inserted in front
        ("bank", X[:, 2:3], 1),
        ("card", X[:, :1], 1),
        ("card", X[:, :3], 3),
    ],
)
def test_a_table_of_another_column_count_is_refused_naming_the_party(
    fitted: Any, party: str, table: np.ndarray, columns: int
) -> None:
    with pytest.raises(DataError, match=rf"{party}: {columns} columns to score, trained on 2"):
        fitted.predict(_data(**{party: table}))


@pytest.mark.parametrize("name", ["", 7, "../bank", "coordinator"])
def test_a_vertical_party_name_outside_the_party_name_rule_is_refused(name: object) -> None:
    data = {"card": (IDS, X[:, :2]), name: (IDS, X[:, 2:])}
    with pytest.raises(ConfigError, match="vertical party name"):
        HeteroSecureBoost(key_bits=512, n_trees=1, max_depth=1, seed=0).fit(data, "card", Y)
