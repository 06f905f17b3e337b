"""SecureBoost and SplitNN check a validation share with one function
(:func:`rengo.vfl.early_stopping.validation_share`): a share that rounds to no held-out row,
and one that holds out every row, are refused by both in the same words (SecureBoost named
a share holding out every row only "no training rows are left after the validation share"),
each led by the party's name."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.vfl.secureboost import SecureBoostConfig
from rengo.vfl.secureboost.boosting import boost
from rengo.vfl.splitnn import SplitNNConfig
from rengo.vfl.splitnn.roles import held_out_rows

X = np.arange(20.0).reshape(10, 2)
Y = np.array([0, 1] * 5)
ALL = "validation_fraction = 0.99 holds out all 10 aligned rows: no row is left to train on"
NONE = "validation_fraction = 0.01 holds out none of the 10 aligned rows (it rounds to 0)"


@pytest.mark.parametrize("said", [ALL, NONE], ids=["all", "none"])
def test_secureboost_and_splitnn_refuse_a_share_in_the_same_words(said: str) -> None:
    fraction = float(said.split()[2])
    with pytest.raises(DataError, match=f"^card: {re.escape(said)}"):
        boost(None, "card", X, Y, SecureBoostConfig(validation_fraction=fraction), 1)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=f"^card: {re.escape(said)}"):
        held_out_rows(1, 10, SplitNNConfig(validation_fraction=fraction), "card")
