"""Each party's kept columns, read from a selection's record, and a table narrowed to them:
what the simulated run, the deployed party, the estimator and rengo run all apply."""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.vfl.common import PartyTable
from rengo.vfl.hetero_binning.selection_step import (
    column_counts,
    kept_columns,
    kept_names,
    kept_table,
)


def _record(*columns: tuple[str, int, bool]) -> dict[str, Any]:
    return {
        "min_iv": 0.02,
        "top_k": None,
        "min_bin_rows": 5,
        "columns": [
            {"party": party, "column": column, "name": f"x{column}", "iv": 0.1, "kept": kept}
            for party, column, kept in columns
        ],
    }


def test_kept_columns_are_each_party_s_kept_indices_ascending_in_any_record_order() -> None:
    record = _record(
        ("bank", 2, True), ("telco", 1, True), ("bank", 0, True), ("bank", 1, False),
        ("telco", 0, False), ("shop", 0, False),
    )  # fmt: skip
    parties = ["bank", "telco", "shop", "card"]  # card: a label party holding no column
    assert kept_columns(record, parties) == {"bank": (0, 2), "telco": (1,), "shop": (), "card": ()}
    assert column_counts(record) == {"bank": 3, "telco": 2, "shop": 1}


def test_a_table_and_its_names_narrowed_to_the_kept_columns_in_their_order() -> None:
    table = PartyTable(np.array(["a", "b"], dtype=object), np.array([[1.0, 2, 3], [4, 5, 6]]))
    kept = kept_table(table, (0, 2))
    np.testing.assert_array_equal(kept.features, [[1.0, 3], [4, 6]])
    np.testing.assert_array_equal(kept.ids, ["a", "b"])
    assert kept_names(("age", "income", "late"), (0, 2)) == ("age", "late")
    assert kept_names((), (0, 2)) == ()  # a party that named no column
