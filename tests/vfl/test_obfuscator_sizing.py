"""Each encrypting party sizes its fixed-base table for the obfuscators it will take
(``ObfuscatorPool.for_encryptor(..., expected_count=)``), and the hetero linear models make
them ahead of use: the count a party announces is the count it takes (exact where the
protocol fixes it), and none is made on demand inside ``take`` (the critical path)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.vfl import HeteroPoissonRegression, HeteroSecureBoost

Sized = list[tuple[str, int | None, Any]]


@pytest.fixture
def sized_pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sized]:
    """Every pool made by ``for_encryptor`` in the run: the role thread that made it, the
    count it was sized for, the pool."""
    made: Sized = []
    original = ObfuscatorPool.for_encryptor.__func__  # type: ignore[attr-defined]

    def recording(cls: type[ObfuscatorPool], *args: Any, **kwargs: Any) -> ObfuscatorPool:
        pool = original(cls, *args, **kwargs)
        made.append((threading.current_thread().name, kwargs.get("expected_count"), pool))
        return pool

    monkeypatch.setattr(ObfuscatorPool, "for_encryptor", classmethod(recording))
    yield made


@pytest.mark.parametrize(("parties", "source"), [(2, "local"), (3, "local"), (3, "coordinator")])
def test_poisson_parties_take_exactly_what_they_sized_for_and_make_none_on_demand(
    sized_pools: Sized, parties: int, source: str
) -> None:
    rng = np.random.default_rng(4)
    rows = 130  # whole batches of 50 and 80
    x = rng.normal(size=(rows, 6))
    y = rng.poisson(np.exp(x @ np.array([0.3, -0.2, 0.1, 0.25, -0.15, 0.2]))).astype(float)
    ids = np.array([f"p{i:03d}" for i in range(rows)])
    names = ["insurer", "bank", "telco"][:parties]
    model = HeteroPoissonRegression(
        key_bits=512, use_psi=False, seed=3, key_seed=5, epochs=2, batch_size=50,
        obfuscator_source=source,
    )  # fmt: skip
    model.fit({n: (ids, x[:, 2 * k : 2 * k + 2]) for k, n in enumerate(names)}, "insurer", y)
    assert len(sized_pools) == parties  # the guest and every host
    for _, expected, pool in sized_pools:
        stats = pool.stats
        assert stats.made_on_demand == 0
        assert stats.made_ahead == stats.taken == expected


def test_secureboost_label_party_takes_exactly_what_it_sized_for(sized_pools: Sized) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"c{i:04d}" for i in range(len(y))])
    parties = {"card": slice(0, 10), "bank": slice(10, 20), "telco": slice(20, 30)}
    model = HeteroSecureBoost(
        key_bits=512, seed=7, key_seed=1, use_psi=False, n_trees=3, max_depth=2,
        subsample=0.8, validation_fraction=0.2,
    )  # fmt: skip
    model.fit({n: (ids, x[:, cols]) for n, cols in parties.items()}, "card", y)
    by_role = {role: (expected, pool) for role, expected, pool in sized_pools}
    assert sorted(by_role) == ["role-bank", "role-card", "role-telco"]
    # the label party's pool is sized for its gradients exactly; the hosts' (re-randomising
    # their histograms) for an upper bound, a full tree's candidate splits
    expected, pool = by_role.pop("role-card")
    assert pool.stats.taken == expected
    for expected, pool in by_role.values():
        assert expected is not None and 0 < pool.stats.taken <= expected
