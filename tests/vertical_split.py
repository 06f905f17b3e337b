"""A small data set's columns shared out among vertical parties (importable by name: the
tests folder is on the path through its conftest)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rengo.vfl.common import PartyData, PartyTable


def split_columns(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, names: Sequence[str]
) -> dict[str, PartyData]:
    """Two columns of ``x`` per party (in ``names`` order, the first holds ``y``); each party
    lacks a few customers (about 5 %, drawn from ``rng``); the first 20 rows to score."""
    ids = np.array([f"c{i:03d}" for i in range(len(x))], dtype=object)
    data = {}
    for k, name in enumerate(names):
        keep = np.flatnonzero(rng.random(len(x)) > 0.05)
        table = PartyTable(ids[keep], x[keep][:, 2 * k : 2 * k + 2])
        score = PartyTable(ids[:20], x[:20, 2 * k : 2 * k + 2])
        data[name] = PartyData(table, y[keep] if k == 0 else None, score)
    return data
