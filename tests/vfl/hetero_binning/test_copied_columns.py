"""A party's table with a column twice (one name twice, or one column under two names).

Under ``top_k`` two copies of a column can take two places, so another party's column
that would have been kept is left out (``top_k = 2`` with the label party's column copied
left the feature party none, and the run was refused blaming ``top_k``). Copies are what
IV selection cannot tell apart (the same rows and labels in every bin: an exact copy or a
monotone rescaling, ``age_months = 12 * age_years``). The label party sees counts, not
rows, so two different columns can look alike by chance: look-alikes are warned of, naming
the party, both columns and the column left out, only when they take a place another
column would have had, and never refused. Copies that displace nobody, and constant
columns, train as before with no warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rengo.core.errors import DataError
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.hetero_binning import FeatureIV
from rengo.vfl.selection_settings import SelectionSettings

ROWS = 200
Table = Callable[[np.ndarray], pd.DataFrame]


def _data(card: Table, bank: Table) -> tuple[dict[str, Any], np.ndarray]:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(ROWS, 4))
    y = (x @ np.array([1.0, -0.7, 0.5, 0.8]) > 0).astype(np.int64)
    ids = np.array([f"c{i:03d}" for i in range(ROWS)], dtype=object)
    return {"card": (ids, card(x)), "bank": (ids[::-1], bank(x[::-1]))}, y


def _fit(data: dict[str, Any], y: np.ndarray, selection: SelectionSettings | None) -> Any:
    model = HeteroLogisticRegression(epochs=1, key_bits=512, seed=1)
    return model.fit(data, "card", y, selection=selection)


def _kept(model: Any) -> list[str]:
    return [c["name"] for c in model.selection_["columns"] if c["kept"]]


def _table(**columns: Callable[[np.ndarray], np.ndarray]) -> Table:
    return lambda x: pd.DataFrame({name: make(x) for name, make in columns.items()})


def _bank(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x[:, 2:], columns=["b1", "b2"])


COPIES = {
    "exact": lambda x: x[:, 0],
    "rescaled": lambda x: 12 * x[:, 0],
    "negated": lambda x: -x[:, 0],
}


@pytest.mark.parametrize("kind", sorted(COPIES))
def test_a_copy_or_rescaling_that_takes_another_partys_place_is_warned_of_naming_all_three(
    kind: str,
) -> None:
    card = _table(age=lambda x: x[:, 0], age_copy=COPIES[kind])
    data, y = _data(card, _bank)
    # the copies leave bank no column, which is refused as before; the warning says why
    with pytest.warns(UserWarning) as warned, pytest.raises(DataError, match="keep"):
        _fit(data, y, SelectionSettings(top_k=2))
    message = next(str(w.message) for w in warned if "in every bin" in str(w.message))
    assert message.startswith("card: column 'age_copy' has as many rows of each label as")
    assert "column 'age' in every bin" in message
    assert "top_k = 2" in message and "leaving out bank's column x1" in message
    assert "drop one of the two columns from card's table" in message
    assert "raise top_k" not in message


def test_a_feature_partys_rescaled_copy_that_takes_the_label_partys_place_is_warned_of() -> None:
    card = _table(a=lambda x: x[:, 0], c=lambda x: x[:, 1])
    bank = _table(b1=lambda x: x[:, 3], b1_k=lambda x: 1000 * x[:, 3] + 5, b2=lambda x: x[:, 2])
    data, y = _data(card, bank)
    with pytest.warns(UserWarning, match="in every bin") as warned:
        _fit(data, y, SelectionSettings(top_k=3))
    message = next(str(w.message) for w in warned if "in every bin" in str(w.message))
    assert message.startswith("bank: column x1 (column 1 of its table, from 0) has as many")
    assert "as column x0 (column 0 of its table, from 0) in every bin" in message
    assert "leaving out card's column 'c'" in message


@pytest.mark.parametrize("top_k", [4, 10])
def test_a_copy_that_displaces_nobody_because_top_k_holds_every_column_is_fitted(
    top_k: int,
) -> None:
    data, y = _data(_table(age=lambda x: x[:, 0], age_again=lambda x: x[:, 0]), _bank)
    model = _fit(data, y, SelectionSettings(top_k=top_k))
    assert _kept(model) == ["age", "age_again", "b1", "b2"]


def test_constant_columns_never_count_as_copies_and_are_fitted() -> None:
    zeros: Callable[[np.ndarray], np.ndarray] = lambda x: np.zeros(len(x))  # noqa: E731
    data, y = _data(_table(a=lambda x: x[:, 0], flag1=zeros, flag2=zeros), _bank)
    model = _fit(data, y, SelectionSettings(top_k=3))
    assert _kept(model) == ["a", "b1", "b2"]


def test_a_copied_column_kept_by_min_iv_alone_takes_no_place_and_is_fitted() -> None:
    data, y = _data(_table(age=lambda x: x[:, 0], age_again=lambda x: x[:, 0]), _bank)
    model = _fit(data, y, SelectionSettings(min_iv=0.0))
    assert _kept(model) == ["age", "age_again", "b1", "b2"]


def _iv(party: str, column: int, events: tuple[int, ...], non_events: tuple[int, ...]) -> Any:
    return FeatureIV(party, column, f"x{column}", events, non_events, (0.0,) * len(events), 0.5)


def test_copies_of_one_iv_are_only_those_of_one_party_with_the_same_counts_per_bin() -> None:
    from rengo.vfl.hetero_binning.selection_step import warn_of_copies_taking_places

    # one IV, but bins in another order than upwards or downwards, or the same counts at
    # another party: not copies, so keeping three of them displaces nobody's copy
    features = [
        _iv("card", 0, (10, 0, 5, 0), (0, 10, 5, 0)),
        _iv("card", 1, (0, 10, 5, 0), (10, 0, 5, 0)),
        _iv("bank", 0, (10, 0, 5, 0), (0, 10, 5, 0)),
        _iv("bank", 1, (5, 5, 5, 0), (5, 5, 5, 0)),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_of_copies_taking_places(features, features[:3], SelectionSettings(top_k=3))
    # the same counts read downwards (a negated column) at one party: a look-alike
    negated = _iv("card", 2, (5, 0, 10, 0), (5, 10, 0, 0))
    with pytest.warns(UserWarning, match=r"^card: column x2 .* as column x0 .*in every bin"):
        warn_of_copies_taking_places(
            [*features[:1], negated, *features[2:]],
            [features[0], negated, features[2]],
            SelectionSettings(top_k=3),
        )


@pytest.mark.parametrize("selection", [None, SelectionSettings(top_k=2)])
def test_a_column_name_twice_is_refused_naming_its_party_and_the_name(
    selection: SelectionSettings | None,
) -> None:
    data, y = _data(lambda x: pd.DataFrame(x[:, :2], columns=["age", "age"]), _bank)
    with pytest.raises(DataError, match=r"^card: column 'age' is named twice \(columns 0 and 1\)"):
        _fit(data, y, selection)


def test_two_different_columns_with_equal_counts_per_bin_are_fitted_not_refused() -> None:
    """The label party sees counts, not rows: two binary columns of bank that differ on 80
    of 200 rows but hold as many rows of each label in each bin look alike, and take two of
    the ``top_k = 3`` places. Before, the run was refused as holding a copy (the reviewer's
    binary.py); it is fitted, with a warning that says the counts may be equal by chance."""
    y = np.array([1] * 100 + [0] * 100, dtype=np.int64)
    first, second = np.zeros(200), np.zeros(200)
    first[0:80], first[100:120] = 1.0, 1.0
    second[20:100], second[180:200] = 1.0, 1.0
    assert (first != second).sum() == 80
    ids = np.array([f"c{i:03d}" for i in range(len(y))], dtype=object)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(len(y), 3))
    card = pd.DataFrame({"c": x[:, 0] + 1.5 * y, "e": x[:, 1]})
    bank = pd.DataFrame({"a": first, "b": second, "d": x[:, 2] + 0.3 * y})
    data = {"card": (ids, card), "bank": (ids, bank)}
    with pytest.warns(UserWarning, match="or equal counts by chance"):
        model = _fit(data, y, SelectionSettings(top_k=3))
    assert sorted(_kept(model)) == ["a", "b", "c"]
