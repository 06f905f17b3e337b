"""Amounts become exact minor units or a clear error: never a float, never rounded, never
more than a ledger line holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rengo.core.errors import ConfigError
from rengo.rewards import format_minor, to_minor_units
from rengo.rewards.money import LEDGER_MAX_MINOR


@given(st.integers(0, LEDGER_MAX_MINOR), st.integers(0, 4))
def test_minor_units_round_trip_through_their_text(minor: int, decimals: int) -> None:
    assert to_minor_units(format_minor(minor, decimals), decimals) == minor


@pytest.mark.parametrize(
    ("amount", "match"),
    [
        ("0.005", "more than 2 decimals"),
        ("-1", "finite number >= 0"),
        ("92233720368547758.08", "over the largest a ledger line holds"),  # int64 + 1
        ("1e999990", "over the largest a ledger line holds"),  # a million-digit int, 30 s
        (1.5, "not float"),
    ],
)
def test_amounts_a_ledger_cannot_hold_exactly_are_refused(amount: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        to_minor_units(amount, 2)  # type: ignore[arg-type]
