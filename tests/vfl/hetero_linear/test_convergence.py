"""Linear regression's defaults reach least squares on tables larger than a batch, whatever
the target's scale: Adam moves each weight by about ``learning_rate`` a step, which a target
in the hundreds (or millions) needs thousands of steps to cover, so ``optimizer="auto"``
solves the squared loss with Newton-CG on any table."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from rengo.metrics import r2_score
from rengo.vfl import HeteroLinearConfig, HeteroLinearRegression
from rengo.vfl.hetero_lr.newton import resolve_optimizer


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_minibatch_sized_table_reaches_sklearn_held_out_r2(scale: float) -> None:
    """Diabetes progression (mean 152) over 309 training rows in batches of 128."""
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y * scale, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    def parties(rows: np.ndarray, first: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        ids = np.arange(len(rows)) + first
        return {"clinic": (ids, rows[:, :5]), "lab": (ids, rows[:, 5:])}

    model = HeteroLinearRegression(key_bits=512, key_seed=1, seed=0, batch_size=128, use_psi=False)
    model.fit(parties(x_train, 0), label_party="clinic", y=y_train)
    _, predicted = model.predict(parties(x_test, 10_000))
    anchor = r2_score(y_test, LinearRegression().fit(x_train, y_train).predict(x_test))
    assert r2_score(y_test, predicted) > anchor - 0.01, (r2_score(y_test, predicted), anchor)


def test_auto_is_newton_for_the_squared_loss_on_any_table() -> None:
    config = HeteroLinearConfig(batch_size=100)
    assert resolve_optimizer(config, 10_000, newton_on_any_table=True) == "newton"
    assert resolve_optimizer(config, 10_000) == "adam"  # hetero LR's Taylor loss: 0/1 labels
