"""A party that the coordinator will ask to score new rows, but that was given none, is told
how to give them or how to train without scoring (README's `rengo vfl party --csv` line
started it without either)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.vfl.common import PartyData, PartyTable
from rengo.vfl.runner import _check_inputs


def test_a_party_without_a_scoring_table_is_told_the_flags_that_fix_it() -> None:
    plan = SimpleNamespace(train=True, score=True, label_party="card", config={})
    algorithm = SimpleNamespace(
        labels_at=("label_party",),
        predict=SimpleNamespace(tables=("feature_party", "label_party")),
    )
    table = PartyTable(np.array(["a", "b"]), np.zeros((2, 1)))
    data = PartyData(table=table, feature_names=("x",))
    with pytest.raises(ConfigError) as refused:
        _check_inputs(plan, algorithm, "feature_party", "bank", data, None)  # type: ignore[arg-type]
    said = str(refused.value)
    assert "bank needs a scoring table" in said
    assert "--score-csv" in said and "--no-score" in said
