"""A round's scores, and so its payouts, are the same whatever the BLAS thread count: the
operator's machine, a rescore on another, a coordinator limited to one thread. numpy's dot
product goes through BLAS, which (OpenBLAS from about 20,000 values) splits the sum among
its threads and rounds it otherwise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from rengo.tournament import PayoutRule, mmc, numerai_corr, score_round, stake_weighted_meta_model

if max((p["num_threads"] for p in threadpool_info()), default=1) < 2:
    pytest.skip("needs a BLAS that may run 2 threads", allow_module_level=True)

ROWS = 60_000  # two eras of 30,000 rows: past where OpenBLAS splits a dot product
RNG = np.random.default_rng(11)
PREDICTIONS = [RNG.random(ROWS) for _ in range(3)]
TARGET = RNG.integers(0, 5, ROWS) / 4


def _on_threads(threads: int, compute: Callable[[], object]) -> object:
    with threadpool_limits(limits=threads):
        return compute()


def test_corr_and_mmc_are_the_same_on_one_or_two_blas_threads() -> None:
    """Before, all 6 scores differed in their last bits between 1 and 2 threads."""
    meta = stake_weighted_meta_model(PREDICTIONS, [1, 2, 3])

    def scores() -> list[float]:
        return [numerai_corr(p, TARGET) for p in PREDICTIONS] + [
            mmc(p, meta, TARGET) for p in PREDICTIONS
        ]

    assert _on_threads(1, scores) == _on_threads(2, scores)


def test_a_rounds_scores_and_payouts_are_the_same_on_one_or_two_blas_threads() -> None:
    ids = [f"r{i:05d}" for i in range(ROWS)]
    eras = {r: "a" if i % 2 else "b" for i, r in enumerate(ids)}

    def result() -> object:
        return score_round(
            {f"p{k}": dict(zip(ids, p, strict=True)) for k, p in enumerate(PREDICTIONS)},
            {"p0": 2**53, "p1": 3**30, "p2": 10**15},
            eras,
            dict(zip(ids, TARGET, strict=True)),
            PayoutRule(clip=1.0),
        )

    one, two = _on_threads(1, result), _on_threads(2, result)
    assert one == two
