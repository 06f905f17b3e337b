"""Party valuation of a count model whose label party brought an exposure: every coalition
trains with the offset ``log(exposure)`` (the label party alone too, in its plaintext twin)
and the predicted rates are scored against the counts over their exposures, as the run's
own held-out metrics are (the coalitions were retrained without it and rates scored
against counts)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import PoissonRegressor

from rengo.core.errors import ConfigError
from rengo.metrics import poisson_deviance, rmse
from rengo.vfl import HeteroLinearRegression, HeteroPoissonRegression, PartyTable, VerticalDataset
from rengo.vfl.hetero_contribution import CoalitionValue, train_guest_alone
from rengo.vfl.hetero_lr.config import LinearModelConfig
from rengo.vfl.hetero_poisson.roles import POISSON

GUEST = "insurer"
L2 = 0.01


def _policies(seed: int, rows: int) -> VerticalDataset:
    """Counts ``Poisson(e exp(x w + b))`` over exposures in (0.05, 2]."""
    rng = np.random.default_rng(seed)
    own = rng.normal(size=(rows, 2))
    telematics = rng.normal(size=(rows, 2))
    exposure = 2.0 - rng.uniform(0.0, 1.95, rows)
    u = 0.4 * own[:, 0] - 0.3 * own[:, 1] + 0.5 * telematics[:, 0] - 0.6
    counts = rng.poisson(exposure * np.exp(u)).astype(np.float64)
    ids = np.array([f"p{seed}-{i:04d}" for i in range(rows)])
    return VerticalDataset(
        {GUEST: PartyTable(ids, own), "telematics": PartyTable(ids, telematics)},
        GUEST,
        counts,
        exposure=exposure,
    )


def _model() -> HeteroPoissonRegression:
    return HeteroPoissonRegression(key_bits=512, epochs=30, batch_size=200, seed=3, l2=L2)


def test_the_grand_coalition_is_the_model_trained_with_the_exposure() -> None:
    train, validation = _policies(1, 200), _policies(2, 120)
    value = CoalitionValue(train, validation, _model, metric="neg_poisson_deviance")
    direct = _model().fit(train)
    ids, rates = direct.predict(VerticalDataset(validation.parties, GUEST))  # rates
    assert validation.exposure is not None and validation.labels is not None
    order = {name: row for row, name in enumerate(validation.parties[GUEST].ids)}
    rows = np.array([order[i] for i in ids])
    counts, exposure = validation.labels[rows], validation.exposure[rows]
    expected = -poisson_deviance(counts / exposure, rates, sample_weight=exposure)
    assert value(frozenset({0})) == pytest.approx(expected, rel=1e-9)
    # and RMSE is the run's: counts against the expected counts
    by_rmse = CoalitionValue(train, validation, _model, metric="neg_rmse")
    assert by_rmse(frozenset({0})) == pytest.approx(-rmse(counts, exposure * rates), rel=1e-9)


def test_the_label_party_alone_trains_with_its_exposure_as_scikit_learn_does() -> None:
    """Its plaintext twin with the offset equals scikit-learn's ``PoissonRegressor`` on
    ``y / e`` weighted by ``e`` (``alpha = l2 / mean(e)``), and is scored as the run is."""
    train, validation = _policies(3, 400), _policies(4, 200)
    assert train.exposure is not None and train.labels is not None
    own = train.parties[GUEST].features
    config = LinearModelConfig(epochs=2000, batch_size=400, l2=L2, tol=1e-12)
    twin = train_guest_alone(own, train.labels, config, 0, POISSON, offset=np.log(train.exposure))
    best = PoissonRegressor(alpha=L2 / train.exposure.mean(), tol=1e-12, max_iter=10_000).fit(
        own, train.labels / train.exposure, sample_weight=train.exposure
    )
    np.testing.assert_allclose(twin.weights, best.coef_, atol=1e-4)
    assert twin.intercept == pytest.approx(best.intercept_, abs=1e-4)

    def twin_model() -> HeteroPoissonRegression:
        return HeteroPoissonRegression(
            key_bits=512, epochs=2000, batch_size=400, l2=L2, tol=1e-12, seed=0
        )

    value = CoalitionValue(train, validation, twin_model, metric="neg_poisson_deviance")
    assert validation.exposure is not None and validation.labels is not None
    rates = best.predict(validation.parties[GUEST].features)
    expected = -poisson_deviance(
        validation.labels / validation.exposure, rates, sample_weight=validation.exposure
    )
    assert value(frozenset()) == pytest.approx(expected, rel=1e-5)


def test_an_exposure_in_one_dataset_only_is_refused_naming_the_other() -> None:
    train, validation = _policies(1, 60), _policies(2, 40)
    bare = VerticalDataset(validation.parties, GUEST, validation.labels)
    with pytest.raises(ConfigError, match="not to the validation data: give both, or neither"):
        CoalitionValue(train, bare, _model)


def test_an_exposure_with_a_model_that_takes_none_is_refused() -> None:
    train, validation = _policies(1, 60), _policies(2, 40)
    with pytest.raises(ConfigError, match="insurer: hetero_linear takes no exposure"):
        CoalitionValue(train, validation, lambda: HeteroLinearRegression(key_bits=512))
