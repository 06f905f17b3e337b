"""A customer's linear score is a function of that customer's row only: scoring runs whose
PSI orders differ (another seed, as a scoring-only run next month has) give every row the
same score, bit for bit."""

from __future__ import annotations

import numpy as np

from rengo.vfl import HeteroLRConfig, PartyData, PartyTable, VerticalPlan, simulate_vertical
from rengo.vfl.hetero_lr import GuestModel, HostModel
from rengo.vfl.hetero_lr.math import row_scores


def test_row_scores_give_a_row_the_same_value_wherever_it_stands() -> None:
    rng = np.random.default_rng(0)
    rows, weights = rng.normal(size=(111, 15)), rng.normal(size=15)
    alone = np.array([row_scores(rows[i : i + 1], weights)[0] for i in range(len(rows))])
    order = rng.permutation(len(rows))
    np.testing.assert_array_equal(row_scores(rows, weights), alone)
    np.testing.assert_array_equal(row_scores(rows[order], weights), alone[order])
    np.testing.assert_array_equal(row_scores(np.asfortranarray(rows), weights), alone)


def _scores(seed: int, data: dict[str, PartyData], models: dict[str, object]) -> dict[str, float]:
    plan = VerticalPlan(
        "bank", ("telecom",), HeteroLRConfig(predict_mode="plain"), seed, train=False
    )
    card = simulate_vertical(plan, data, models=models).parties["bank"]
    assert card.score_ids is not None and card.scores is not None
    return dict(zip(card.score_ids, card.scores.tolist(), strict=True))


def test_a_customers_score_does_not_depend_on_the_psi_order_of_the_run() -> None:
    """Before, parties scored ``X @ w``: BLAS rounds a row by its position in its block, so
    a row scored in another PSI order moved by 1 ulp (1 of 111 customers, deployed)."""
    rng = np.random.default_rng(1)
    ids = np.array([f"c{i:03d}" for i in range(111)])
    x = rng.normal(size=(111, 30))
    data = {
        "bank": PartyData(None, None, PartyTable(ids, x[:, :15])),
        "telecom": PartyData(None, None, PartyTable(ids[::-1], x[::-1, 15:])),
    }
    models: dict[str, object] = {
        "bank": GuestModel(rng.normal(size=15), 0.3),
        "telecom": HostModel(rng.normal(size=15), 3),
    }
    first = _scores(1, data, models)
    for seed in (2, 3, 4):
        assert _scores(seed, data, models) == first
