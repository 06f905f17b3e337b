"""Party Shapley values work for hetero linear and Poisson regression as for hetero LR:
exact values by retraining every coalition, efficient, the informative party above the
noise party, and the label party alone trained locally with the model's own loss."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import ConfigError
from rengo.valuation import vertical_party_contribution
from rengo.vfl import (
    HeteroLinearRegression,
    HeteroPoissonRegression,
    PartyTable,
    VerticalDataset,
)
from rengo.vfl.hetero_contribution import train_guest_alone
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_lr.objective import SQUARED

GUEST = "label_party"


def _consortium(kind: str, seed: int, rows: int) -> VerticalDataset:
    rng = np.random.default_rng(seed)
    weak = rng.normal(size=(rows, 1))
    informative = rng.normal(size=(rows, 2))
    noise = rng.normal(size=(rows, 2))
    u = 0.2 * weak[:, 0] + 0.6 * informative[:, 0] - 0.4 * informative[:, 1]
    labels = u + rng.normal(0, 0.3, rows) if kind == "linear" else rng.poisson(np.exp(u + 0.5))
    ids = np.array([f"c{seed}-{i:05d}" for i in range(rows)])
    keep = np.sort(rng.choice(rows, rows - 15, replace=False))
    return VerticalDataset(
        {
            GUEST: PartyTable(ids, weak),
            "informative": PartyTable(ids[keep], informative[keep]),
            "noise": PartyTable(ids, noise),
        },
        GUEST,
        np.asarray(labels, dtype=np.float64),
    )


@pytest.mark.parametrize(
    ("kind", "estimator", "metric"),
    [
        ("linear", HeteroLinearRegression, "r2"),
        ("poisson", HeteroPoissonRegression, "neg_poisson_deviance"),
    ],
)
def test_exact_party_shapley_of_a_regression_is_efficient_and_ranks_parties(
    kind: str, estimator: type, metric: str
) -> None:
    def make_model() -> object:
        return estimator(key_bits=512, epochs=4, batch_size=200, learning_rate=0.2, tol=0.0, seed=3)

    result = vertical_party_contribution(
        _consortium(kind, 1, 300),
        _consortium(kind, 2, 150),
        make_model=make_model,  # type: ignore[arg-type]
        metric=metric,
    )
    assert result.method == "vfl_exact" and result.metric == metric
    assert sum(result.values.values()) == pytest.approx(result.full - result.baseline)
    assert result.values["informative"] > result.values["noise"] + 0.05
    assert abs(result.values["noise"]) < 0.05


def test_a_binary_metric_for_a_regression_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'auc' for hetero_linear.*'r2'"):
        vertical_party_contribution(
            _consortium("linear", 1, 60),
            _consortium("linear", 2, 30),
            make_model=lambda: HeteroLinearRegression(key_bits=512),
            metric="auc",
        )


def test_the_label_party_alone_trains_the_squared_loss_locally() -> None:
    data = _consortium("linear", 1, 300)
    x = data.parties[GUEST].features
    y = np.asarray(data.labels)
    config = LinearModelConfig(
        epochs=200, batch_size=300, learning_rate=0.5, optimizer="sgd", tol=0.0
    )
    model = train_guest_alone(x, y, config, seed=0, objective=SQUARED)
    slope, intercept = np.polyfit(x[:, 0], y, 1)
    assert model.weights[0] == pytest.approx(slope, abs=1e-3)
    assert model.intercept == pytest.approx(intercept, abs=1e-3)


def test_the_label_party_alone_is_the_federated_poisson_model_without_host_columns() -> None:
    """Party Shapley's coalition of one is the federated guest's local twin: trained alone,
    it is the federated model whose host has no columns to give (any start or step the
    federated guest took and the twin did not would be credited to the other parties)."""
    from rengo.vfl.hetero_poisson.roles import POISSON

    data = _consortium("poisson", 1, 300)
    guest = data.parties[GUEST]
    featureless = PartyTable(guest.ids, np.zeros((len(guest.ids), 2)))
    options = dict(key_bits=512, epochs=4, batch_size=200, learning_rate=0.2, tol=0.0, seed=3)
    federated = HeteroPoissonRegression(use_psi=False, **options).fit(
        VerticalDataset({GUEST: guest, "empty": featureless}, GUEST, data.labels)
    )
    alone = train_guest_alone(
        guest.features, np.asarray(data.labels), federated.config, 3, objective=POISSON
    )
    assert alone.intercept == pytest.approx(federated.guest_model_.intercept, abs=1e-6)
    np.testing.assert_allclose(alone.weights, federated.coefficients()[GUEST], atol=1e-6)
    np.testing.assert_allclose(alone.losses, federated.losses_, atol=1e-6)
