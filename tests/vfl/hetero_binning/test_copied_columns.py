"""A party's table with a column twice (one name twice, or one column's values under two
names): two copies under ``top_k`` took two of its places, so ``top_k = 2`` with the label
party's column copied left the feature party none and the run was refused blaming
``top_k``; now the party and both columns are named before any message of the IV protocol."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from rengo.core.errors import DataError
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.selection_settings import SelectionSettings

ROWS = 200


def _data(card: Any, bank: Any) -> tuple[dict[str, Any], np.ndarray]:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(ROWS, 3))
    y = (x @ np.array([1.0, -0.7, 0.5]) > 0).astype(np.int64)
    ids = np.array([f"c{i:03d}" for i in range(ROWS)], dtype=object)
    return {"card": (ids, card(x)), "bank": (ids[::-1], bank(x[::-1]))}, y


def _fit(data: dict[str, Any], y: np.ndarray, selection: SelectionSettings | None) -> Any:
    model = HeteroLogisticRegression(epochs=1, key_bits=512, seed=1)
    return model.fit(data, "card", y, selection=selection)


def _copied(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(np.column_stack([x[:, 0], x[:, 0]]), columns=["age", "age_again"])


def _own(names: list[str], *columns: int) -> Any:
    return lambda x: pd.DataFrame(x[:, list(columns)], columns=names)


@pytest.mark.parametrize("copied_at", ["card", "bank"])
def test_a_copied_column_under_top_k_is_refused_naming_its_party_and_both_columns(
    copied_at: str,
) -> None:
    card = _copied if copied_at == "card" else _own(["age", "income"], 0, 1)
    bank = _copied if copied_at == "bank" else _own(["limit"], 2)
    data, y = _data(card, bank)
    with pytest.raises(DataError) as refused:
        _fit(data, y, SelectionSettings(top_k=2))
    message = str(refused.value)
    assert message.startswith(f"{copied_at}: column 'age_again' holds the same values as")
    assert "column 'age'" in message and "top_k = 2" in message


def test_a_copied_column_kept_by_min_iv_alone_takes_no_place_and_is_fitted() -> None:
    data, y = _data(_copied, _own(["limit"], 2))
    model = _fit(data, y, SelectionSettings(min_iv=0.0))
    assert [c["name"] for c in model.selection_["columns"] if c["kept"]] == [
        "age",
        "age_again",
        "limit",
    ]


@pytest.mark.parametrize("selection", [None, SelectionSettings(top_k=2)])
def test_a_column_name_twice_is_refused_naming_its_party_and_the_name(
    selection: SelectionSettings | None,
) -> None:
    data, y = _data(_own(["age", "age"], 0, 1), _own(["limit"], 2))
    with pytest.raises(DataError, match=r"^card: column 'age' is named twice \(columns 0 and 1\)"):
        _fit(data, y, selection)
