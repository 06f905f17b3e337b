"""SplitNN scores a row the same whatever order PSI agreed for the rows to score."""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.vfl import PartyData, VerticalPlan, as_vertical_dataset, simulate_vertical
from rengo.vfl.splitnn import SplitNNClassifier


def test_the_same_rows_score_bit_for_bit_alike_in_every_psi_order(cancer: dict[str, Any]) -> None:
    """Before, the vectorised sigmoid rounded a row by its position in PSI's order: scoring
    the same rows with one model under seeds 1..5 moved 2 to 4 of 569 scores in their last
    digit (how a deployed scoring-only run missed its training run's scores)."""
    parties = {
        "card": (cancer["ids"], cancer["x"][:, :10]),
        "bank": (cancer["ids"], cancer["x"][:, 10:]),
    }
    model = SplitNNClassifier(epochs=1, seed=0).fit(parties, "card", cancer["y"])
    scored = []
    for seed in range(5):  # each seed is another PSI order of the same rows
        model.seed = seed
        ids, probabilities = model.predict_proba(parties)
        scored.append((list(ids), probabilities))
    first_ids, first = scored[0]
    for ids, probabilities in scored[1:]:
        assert ids == first_ids
        np.testing.assert_array_equal(probabilities, first)


def test_scoring_lists_the_feature_parties_in_any_order(cancer: dict[str, Any]) -> None:
    """The top model stacks the feature parties' embeddings in training's order: a
    scoring-only run whose coordinator lists them in another order (``--parties
    card,telecom,bank`` after training with ``card,bank,telecom``) scores the same. Before,
    it refused ("the model was trained with feature parties ['bank', 'telecom'], scoring
    names ['telecom', 'bank']") though the parties were the same."""
    parties = cancer["parties"]
    model = SplitNNClassifier(epochs=1, seed=0).fit(parties, "card", cancer["labels"])
    dataset = as_vertical_dataset(parties, "card")
    inputs = {name: PartyData(score_table=table) for name, table in dataset.parties.items()}
    scored = {}
    for hosts in (tuple(model.hosts_), tuple(reversed(model.hosts_))):
        plan = VerticalPlan("card", hosts, model.config, 0, train=False, algorithm="splitnn")
        run = simulate_vertical(plan, inputs, models=model.models_)
        result = run.parties["card"]
        scored[hosts] = (list(result.score_ids), np.asarray(result.scores))
    (first_ids, first), (ids, again) = scored.values()
    assert ids == first_ids
    np.testing.assert_array_equal(again, first)
