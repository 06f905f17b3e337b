"""A vertical contribution run sends what its coalitions' training and scoring runs send,
nothing more: over every coalition's transcripts (PSI, training, PSI, scoring) no feature
value, label vector or ID crosses, shared or not, and every ciphertext is freshly
randomised."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from transcript_search import plain_numbers, randomness_problems, sent_arrays

from rengo.crypto import PaillierPrivateKey
from rengo.vfl import HeteroLogisticRegression, PartyTable, VerticalDataset
from rengo.vfl.hetero_contribution import CoalitionValue

GUEST = "card"


def _dataset(rng: np.random.Generator, ids: np.ndarray, rows: np.ndarray) -> VerticalDataset:
    x = rng.normal(size=(len(ids), 5)) + 1e-9 * np.pi  # no feature value is a short decimal
    labels = (x[:, 0] + x[:, 1] - x[:, 3] > 0).astype(np.float64)
    tables = {
        GUEST: PartyTable(ids, x[:, :1]),
        "bank": PartyTable(ids[rows], x[rows, 1:3]),
        "telco": PartyTable(ids[rows[::-1]], x[rows[::-1], 3:]),
    }
    return VerticalDataset(tables, GUEST, labels)


@pytest.fixture(scope="module")
def contribution() -> dict[str, Any]:
    rng = np.random.default_rng(4)
    ids = np.array([f"customer-{i:06d}" for i in range(200)])
    train = _dataset(rng, ids[:120], np.arange(10, 120))
    validation = _dataset(rng, ids[120:], np.arange(5, 80))
    models: list[HeteroLogisticRegression] = []

    def make_model() -> HeteroLogisticRegression:
        model = HeteroLogisticRegression(key_bits=512, epochs=2, batch_size=64, seed=1)
        models.append(model)
        return model

    value = CoalitionValue(train, validation, make_model)
    for size in (1, 2):
        for coalition in itertools.combinations(range(2), size):
            value(frozenset(coalition))
    fitted = [m for m in models if hasattr(m, "fit_run_")]
    return {"train": train, "validation": validation, "ids": ids, "models": fitted}


def _entries(model: HeteroLogisticRegression) -> list[Any]:
    return [
        *model.psi_.transcript,  # type: ignore[union-attr]
        *model.transcript_,
        *model.predict_psi_.transcript,  # type: ignore[union-attr]
        *model.predict_bus_.transcript,
    ]


def test_every_federated_coalition_was_trained_and_scored(contribution: dict[str, Any]) -> None:
    assert len(contribution["models"]) == 3  # {bank}, {telco}, {bank, telco}
    assert all(m.predict_bus_.transcript for m in contribution["models"])


def test_no_feature_label_or_id_crosses_in_any_coalition_run(
    contribution: dict[str, Any],
) -> None:
    entries = [e for m in contribution["models"] for e in _entries(m)]
    wire = b"".join(e.payload for e in entries)
    numbers = set(plain_numbers(entries).tolist())
    for dataset in (contribution["train"], contribution["validation"]):
        for table in dataset.parties.values():
            values = table.features.ravel()
            assert not [v for v in values if v in numbers or np.float64(v).tobytes() in wire]
        labels = np.asarray(dataset.labels)
        for dtype in (np.float64, np.int64, np.uint8, np.float32):
            assert labels.astype(dtype).tobytes() not in wire
    assert [i for i in contribution["ids"] if i.encode() in wire] == []


def test_every_ciphertext_of_every_coalition_run_is_fresh(contribution: dict[str, Any]) -> None:
    for model in contribution["models"]:
        private = model._keypair[1]
        assert isinstance(private, PaillierPrivateKey)
        sent = list(sent_arrays(_entries(model)))
        assert sent and randomness_problems(sent, [private]) == []
