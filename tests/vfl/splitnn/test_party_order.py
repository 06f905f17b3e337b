"""SplitNN trains the same model whatever order its feature parties are listed in: a
Python dict, a job file's [vfl.parties] table and `rengo vfl coordinator --parties` may
each name them in another order, and with the same seed the model must not change."""

from __future__ import annotations

from typing import Any

import numpy as np

from rengo.vfl.splitnn import SplitNNClassifier


def test_the_feature_parties_order_does_not_change_the_trained_model(
    cancer: dict[str, Any],
) -> None:
    """Before, the label party stacked the embeddings (and drew its defence noise) in the
    order it was given the feature parties, so listing bank and telecom the other way round
    trained another model from the same seed: held-out probabilities moved by up to 0.15."""
    parties = cancer["parties"]
    reordered = {name: parties[name] for name in ("telecom", "card", "bank")}
    trained = [
        SplitNNClassifier(epochs=1, seed=0, defense="gaussian", noise_scale=0.1).fit(
            listed, "card", cancer["labels"]
        )
        for listed in (parties, reordered)
    ]
    (ids, first), (again_ids, again) = (model.predict_proba(parties) for model in trained)
    assert list(again_ids) == list(ids)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(trained[1].losses_, trained[0].losses_)
