"""The coordinator checks the selection record the label party sends before keeping it.

Before, it stored whatever came: a record whose ``min_iv`` was 99 (the plan said 0.3), with
no ``min_bin_rows``, an extra key, an IV of 1e9, a feature party's column listed twice with
opposite ``kept`` flags and two of its columns missing. A feature party that sent too few
column names failed the run naming the honest label party; one that sent too many was
accepted.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rengo.core.errors import ProtocolError
from rengo.vfl.hetero_binning.selection_step import (
    IV_NAMES,
    IV_RECORD,
    check_min_bin_rows,
    receive_selection_record,
)
from rengo.vfl.selection_settings import SelectionSettings

RULE = SelectionSettings(min_iv=0.3)


class Inbox:
    """A coordinator's run channel holding what each party sent."""

    def __init__(self, messages: dict[tuple[str, str], Any]) -> None:
        self.messages = messages

    def recv(self, frm: str, key: str, timeout: float | None = None) -> Any:
        return self.messages[(frm, key)]


def _honest() -> dict[tuple[str, str], Any]:
    """bank's two columns and telco's three, IVs in the label party's order."""
    ivs = [("bank", 0, "income", 0.9), ("bank", 1, "x1", 0.1)]
    ivs += [("telco", j, f"x{j}", iv) for j, iv in enumerate((0.5, 0.2, 0.31))]
    record = {
        **RULE.as_dict(),
        "min_bin_rows": 5,
        "columns": [
            {"party": p, "column": j, "name": n, "iv": iv, "kept": iv >= 0.3} for p, j, n, iv in ivs
        ],
    }
    names = {"names": ["late", "noise", "region"], "kept": [0, 2]}
    return {("bank", IV_RECORD): record, ("telco", IV_NAMES): names}


def _received(messages: dict[tuple[str, str], Any]) -> dict[str, Any]:
    return receive_selection_record(Inbox(messages), RULE, "bank", ["telco"])  # type: ignore[arg-type]


def test_an_honest_record_is_kept_with_each_feature_partys_own_column_names() -> None:
    record = _received(_honest())
    assert [(c["party"], c["name"], c["kept"]) for c in record["columns"]] == [
        ("bank", "income", True),
        ("bank", "x1", False),
        ("telco", "late", True),
        ("telco", "noise", False),
        ("telco", "region", True),
    ]
    assert record["min_iv"] == 0.3 and record["min_bin_rows"] == 5


def _lie(change: Any) -> dict[tuple[str, str], Any]:
    messages = copy.deepcopy(_honest())
    change(messages[("bank", IV_RECORD)], messages[("telco", IV_NAMES)])
    return messages


LIES = {
    "another-rule": (lambda r, _: r.update(min_iv=99.0), "min_iv = 99.0, the plan's is 0.3"),
    "no-min-bin-rows": (lambda r, _: r.pop("min_bin_rows"), "['min_bin_rows'] are missing"),
    "extra-key": (lambda r, _: r.update(evil="x"), "keys ['evil'] are not a record's"),
    "column-listed-twice": (
        lambda r, _: r["columns"].append({**r["columns"][3], "kept": True}),
        "telco's columns are not each listed once",
    ),
    "column-missing": (lambda r, _: r["columns"].pop(3), "telco's columns are not each listed"),
    "kept-against-the-rule": (
        lambda r, _: r["columns"][1].update(kept=True),
        "kept columns are not those the plan's rule keeps",
    ),
    "huge-iv-drops-nothing": (
        lambda r, _: r["columns"][1].update(iv=1e9),
        "kept columns are not those the plan's rule keeps",
    ),
    "not-finite-iv": (lambda r, _: r["columns"][1].update(iv=float("nan")), "malformed"),
    "extra-column-key": (lambda r, _: r["columns"][0].update(bins=[1, 2]), "malformed"),
    "a-stranger": (
        lambda r, _: r["columns"].append({**r["columns"][0], "party": "mallory"}),
        "columns of ['mallory'], not parties",
    ),
    "no-column-of-a-party": (
        lambda r, _: [c.update(iv=0.0, kept=False) for c in r["columns"] if c["party"] == "bank"],
        "it keeps no column of bank",
    ),
    "a-second-min-bin-rows": (
        lambda r, _: r.update(min_bin_rows_default=True),
        "keys ['min_bin_rows_default'] are not a record's",
    ),
}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_bad_record_is_refused_naming_the_label_party(lie: str) -> None:
    change, words = LIES[lie]
    with pytest.raises(ProtocolError) as refused:
        _received(_lie(change))
    assert str(refused.value).startswith("bank sent a bad selection record: ")
    assert words in str(refused.value)


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (["late"], "telco named 1 columns, but its histograms in bank's selection record held 3"),
        (list("abcde"), "telco named 5 columns, but its histograms in bank's selection record"),
    ],
    ids=["too-few", "too-many"],
)
def test_a_feature_party_naming_another_count_of_columns_is_named_itself(
    names: list[str], words: str
) -> None:
    messages = _honest()
    messages[("telco", IV_NAMES)] = {"names": names, "kept": [0]}
    with pytest.raises(ProtocolError, match="^" + words):
        _received(messages)


def test_kept_flags_other_than_what_a_feature_party_was_told_are_refused_naming_both() -> None:
    messages = _honest()
    messages[("telco", IV_NAMES)]["kept"] = [0]
    with pytest.raises(ProtocolError, match=r"telco says it keeps its columns \[0\], bank's"):
        _received(messages)


@pytest.mark.parametrize("sent", [["a", "b", "c"], {"names": ["a"], "kept": [0], "more": 1}])
def test_a_malformed_feature_party_message_is_refused_naming_it(sent: Any) -> None:
    messages = _honest()
    messages[("telco", IV_NAMES)] = sent
    with pytest.raises(ProtocolError, match=r"^telco sent malformed"):
        _received(messages)


def test_the_min_bin_rows_recorded_is_the_one_in_effect_for_the_label_partys_rows() -> None:
    record = _received(_honest())
    check_min_bin_rows(record, RULE, 1000, "bank")  # max(5, 0.5% of 1000)
    with pytest.raises(ProtocolError, match="min_bin_rows = 5, but 100 is in effect"):
        check_min_bin_rows(record, RULE, 20000, "bank")
