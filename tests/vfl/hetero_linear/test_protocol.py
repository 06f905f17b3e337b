"""Coordinated hetero linear regression equals plaintext mini-batch training of the same
model (same batches, learning rate, optimizer, L2) on the joined data: the squared loss's
residual is exact, so only fixed-point encoding differs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from rengo.core.errors import DataError
from rengo.metrics import r2_score
from rengo.vfl import HeteroLinearConfig, HeteroLinearRegression, batch_order
from rengo.vfl.hetero_lr.math import init_optimizer, learning_rate, optimizer_step
from rengo.vfl.hetero_lr.objective import SQUARED

ROWS, SEED = 150, 5
COLUMNS = {"shop": slice(0, 4), "bank": slice(4, 7), "telco": slice(7, 10)}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_diabetes(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0))[:ROWS]
    y = ((y - y.mean()) / y.std())[:ROWS]
    return np.array([f"c{i:03d}" for i in range(ROWS)]), x, y


def plaintext_training(
    blocks: list[np.ndarray], y: np.ndarray, config: HeteroLinearConfig, seed: int
) -> tuple[list[np.ndarray], list[float]]:
    """Mini-batch training of ``(u - y)^2 / 2`` on the joined columns, block by block
    (label party first, with its intercept column last)."""
    blocks = [np.hstack([blocks[0], np.ones((len(y), 1))]), *blocks[1:]]
    weights = [np.zeros(b.shape[1]) for b in blocks]
    states = [init_optimizer(b.shape[1]) for b in blocks]
    # each party steps in units of its own columns' root mean square
    scales = [np.sqrt(np.mean(b * b, axis=0)) for b in blocks]
    penalties = [np.ones(b.shape[1]) for b in blocks]
    penalties[0][-1] = 0.0
    losses = []
    for epoch in range(config.epochs):
        total = 0.0
        for rows in batch_order(seed, epoch, len(y), config.batch_size, whole=True):
            u = sum(b[rows] @ w for b, w in zip(blocks, weights, strict=True))
            total += float(np.sum(0.5 * (u - y[rows]) ** 2))
            d = SQUARED.residual(u, y[rows])
            lr = learning_rate(config.learning_rate, config.lr_schedule, epoch)
            for k, block in enumerate(blocks):
                grad = block[rows].T @ d / len(rows) + config.l2 * weights[k] * penalties[k]
                moved, states[k] = optimizer_step(
                    weights[k] * scales[k], grad / scales[k], states[k], lr, config.optimizer
                )
                weights[k] = moved / scales[k]
        losses.append(total / len(y))
    return weights, losses


@pytest.mark.parametrize(
    ("parties", "optimizer", "source"),
    [(2, "sgd", "local"), (3, "sgd", "coordinator"), (3, "adam", "local")],
)
def test_encrypted_training_equals_plaintext_training_to_1e6(
    parties: int, optimizer: str, source: str
) -> None:
    ids, x, y = _data()
    names = list(COLUMNS)[:parties]
    options = dict(
        epochs=3,
        batch_size=40,
        learning_rate=0.05,
        l2=0.02,
        tol=0.0,
        optimizer=optimizer,
        lr_schedule="inverse_sqrt",
        obfuscator_source=source,
        feature_precision_bits=32,
    )
    model = HeteroLinearRegression(key_bits=512, use_psi=False, seed=SEED, key_seed=3, **options)
    model.fit({n: (ids, x[:, COLUMNS[n]]) for n in names}, "shop", y)
    weights, losses = plaintext_training(
        [x[:, COLUMNS[n]] for n in names], y, HeteroLinearConfig(**options), SEED
    )
    coefficients = model.coefficients()
    np.testing.assert_allclose(coefficients["shop"], weights[0][:-1], atol=1e-6)
    assert model.guest_model_.intercept == pytest.approx(weights[0][-1], abs=1e-6)
    for k, name in enumerate(names[1:], start=1):
        np.testing.assert_allclose(coefficients[name], weights[k], atol=1e-6)
    np.testing.assert_allclose(model.losses_, losses, atol=1e-6)
    batches = len(batch_order(SEED, 0, ROWS, 40, whole=True))
    columns = sum(x[:, COLUMNS[n]].shape[1] for n in names) + 1
    assert model.coordinator_report_.decrypted_values == 3 * batches * (columns + 1)


def test_predictions_are_the_federated_linear_predictor_and_score_is_r2() -> None:
    ids, x, y = _data()
    data = {n: (ids, x[:, c]) for n, c in COLUMNS.items()}
    model = HeteroLinearRegression(key_bits=512, epochs=30, batch_size=150, seed=1, key_seed=2)
    model.fit(data, "shop", y)
    scored_ids, values = model.predict_raw(data)
    coefficients = model.coefficients()
    rows = {i: k for k, i in enumerate(ids)}
    order = [rows[i] for i in scored_ids]
    expected = model.guest_model_.intercept + sum(
        x[order][:, COLUMNS[n]] @ coefficients[n] for n in COLUMNS
    )
    np.testing.assert_allclose(values, expected, atol=1e-8)
    assert model.score(data, y, "shop") == pytest.approx(r2_score(y[order], values))
    np.testing.assert_allclose(model.predict(data).values, values)
    # full-batch Adam for 30 epochs gets close to least squares on the joined columns
    best = LinearRegression().fit(x, y).score(x, y)
    assert best - 0.05 < model.score(data, y, "shop") <= best + 1e-9


def test_a_nan_label_is_refused_naming_the_label_party() -> None:
    ids, x, y = _data()
    y = y.copy()
    y[7] = np.nan
    model = HeteroLinearRegression(key_bits=512, epochs=1, seed=1, use_psi=False)
    with pytest.raises(DataError, match=r"shop.*NaN or infinite"):
        model.fit({"shop": (ids, x[:, :4]), "bank": (ids, x[:, 4:])}, "shop", y)


def test_get_params_lists_every_option_and_set_params_checks_them() -> None:
    model = HeteroLinearRegression(epochs=4)
    params = model.get_params()
    assert params["epochs"] == 4 and params["key_bits"] == 2048 and "seed" in params
    model.set_params(learning_rate=0.2)
    assert model.learning_rate == 0.2
    with pytest.raises(Exception, match="learning_rate"):
        model.set_params(learning_rate=-1.0)
