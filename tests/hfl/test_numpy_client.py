"""The numpy logistic-regression client reports what it trained on."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.hfl import LogisticRegressionClient, softmax_init, softmax_loss_grad


def test_fit_loss_is_the_mean_over_every_batch_not_the_last_one() -> None:
    # with lr 0 every batch sees the same model, so the mean over its batches (2 + 2 + 1 rows)
    # is the loss over all 5 rows; the last batch alone is one row's (what it reported)
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(5, 4)), np.array([0, 1, 2, 1, 0])
    params = [rng.normal(size=p.shape) for p in softmax_init(4, 3)]
    client = LogisticRegressionClient(X, y, lr=0.0, batch_size=2, local_epochs=2)
    result = client.fit(params, {"seed": 1})
    whole, _ = softmax_loss_grad(params, X, y, 0.0)
    assert result.metrics["loss"] == pytest.approx(whole, rel=1e-12)
