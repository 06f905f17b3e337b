"""The ledger is append-only, enforced by SQLite triggers, and keeps amounts exact."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.tracking import RunStore


def test_ledger_round_trips_int_and_decimal_amounts_exactly(store: RunStore) -> None:
    run_id = store.start_run("contribution", {})
    first = store.append_ledger(run_id, 1, "a", "reward", 150, "shapley share", "EUR")
    second = store.append_ledger(run_id, None, "b", "penalty", "-0.10", None, "EUR")
    third = store.append_ledger(run_id, 2, "a", "reward", np.int64(7))
    assert first < second < third
    rows = [
        (e.seq, e.round, e.participant, e.kind, e.amount, e.currency, e.reason)
        for e in store.ledger(run_id)
    ]
    assert rows == [
        (first, 1, "a", "reward", 150, "EUR", "shapley share"),
        (second, None, "b", "penalty", "-0.10", "EUR", None),
        (third, 2, "a", "reward", 7, "credits", None),
    ]


@pytest.mark.parametrize("amount", [1.5, True, "ten", "NaN", "Infinity", None])
def test_ledger_refuses_inexact_or_non_numeric_amounts(store: RunStore, amount: object) -> None:
    run_id = store.start_run("contribution", {})
    with pytest.raises(DataError, match="amount"):
        store.append_ledger(run_id, 1, "a", "reward", amount)  # type: ignore[arg-type]


def test_ledger_update_via_raw_sql_is_aborted(store: RunStore) -> None:
    run_id = store.start_run("contribution", {})
    store.append_ledger(run_id, 1, "a", "reward", 100)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE ledger SET amount = 1000000")
    conn.close()
    assert [e.amount for e in store.ledger(run_id)] == [100]


def test_ledger_delete_via_raw_sql_is_aborted(store: RunStore) -> None:
    run_id = store.start_run("contribution", {})
    store.append_ledger(run_id, 1, "a", "reward", 100)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM ledger")
    conn.close()
    assert len(store.ledger(run_id)) == 1


def test_run_with_ledger_entries_cannot_be_deleted(store: RunStore) -> None:
    run_id = store.start_run("contribution", {})
    store.append_ledger(run_id, 1, "a", "reward", 100)
    with pytest.raises(ConfigError, match="append-only"):
        store.delete_run(run_id)
    assert store.get_run(run_id).run_id == run_id
    assert len(store.ledger(run_id)) == 1
