"""A vertical party Shapley estimate does not depend on the order the tables list the
feature parties in: the players are the feature parties in name order. Before, sampled
permutations were drawn over the tables' order, so the same seed estimated other values
(hetero LR, 3 feature parties, 48 permutations: a party's value 0.1738 in one order and
0.1700 in another)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.valuation import vertical_party_contribution
from rengo.vfl import HeteroLogisticRegression, PartyTable, VerticalDataset

GUEST = "guest"
WEIGHTS = {GUEST: 0.8, "a": 1.6, "b": -1.2, "c": 0.3}


class _SummingModel(HeteroLogisticRegression):
    """Scores a row as the weighted sum of the first columns it holds (no training, no
    keys): a coalition's value is then exact and cheap, and only sampling varies."""

    def fit(self, data: Any, *args: Any, **kwargs: Any) -> _SummingModel:
        return self

    def predict_raw(self, data: Any, label_party: str | None = None) -> Any:
        guest = data.parties[GUEST]
        score = np.zeros(len(guest.ids))
        for name, table in data.parties.items():
            column = dict(zip(table.ids.tolist(), table.features[:, 0].tolist(), strict=True))
            score += WEIGHTS[name] * np.array([column[i] for i in guest.ids.tolist()])
        return guest.ids, 1.0 / (1.0 + np.exp(-score))


def _listed(seed: int, order: tuple[str, ...]) -> VerticalDataset:
    rng = np.random.default_rng(seed)
    columns = {name: rng.normal(size=(200, 1)) for name in WEIGHTS}
    logit = sum(w * columns[name][:, 0] for name, w in WEIGHTS.items())
    labels = (rng.random(200) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    ids = np.array([f"c{seed}-{i:04d}" for i in range(200)])
    return VerticalDataset({n: PartyTable(ids, columns[n]) for n in order}, GUEST, labels)


def test_a_sampled_estimate_is_the_same_whatever_order_the_feature_parties_come_in() -> None:
    values = []
    for order in ((GUEST, "a", "b", "c"), ("c", GUEST, "b", "a")):
        result = vertical_party_contribution(
            _listed(1, order),
            _listed(2, order),
            make_model=lambda: _SummingModel(seed=0),
            seed=3,
            exact_max_parties=1,
            exact_when_cheaper=False,
        )
        assert result.permutations > 0  # sampled, not exact
        values.append(result.values)
    assert values[1] == values[0]
