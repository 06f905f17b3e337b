"""Claim-frequency metrics: the (exposure-weighted) mean Poisson deviance and D^2 equal
scikit-learn's; the actuarial Lorenz curve and Gini coefficient (claims ordered by predicted
frequency, weighted by exposure, as in scikit-learn's "Poisson regression and non-normal
loss" example) have the properties that define them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as sk

from rengo.core.errors import DataError
from rengo.metrics import d2_poisson_score, gini_coefficient, lorenz_curve, poisson_deviance

ROWS = 30
counts = arrays(np.int64, ROWS, elements=st.integers(0, 6)).map(lambda a: a.astype(float))
rates = arrays(np.float64, ROWS, elements=st.floats(0.01, 5.0))
exposures = arrays(np.float64, ROWS, elements=st.floats(0.1, 1.0))
# scores on a grid of 0.01: distinct scores stay distinct (and ties stay ties) through
# every transform below in floating point, as they do mathematically
grid_scores = arrays(np.int64, ROWS, elements=st.integers(1, 500)).map(lambda a: a / 100)


@settings(max_examples=80, deadline=None)
@given(y=counts, rate=rates, exposure=exposures)
def test_deviance_and_d2_equal_scikit_learn_with_exposure_weights(
    y: np.ndarray, rate: np.ndarray, exposure: np.ndarray
) -> None:
    frequency = y / exposure
    assert poisson_deviance(frequency, rate, sample_weight=exposure) == pytest.approx(
        sk.mean_poisson_deviance(frequency, rate, sample_weight=exposure), rel=1e-10
    )
    assert poisson_deviance(y, rate) == pytest.approx(sk.mean_poisson_deviance(y, rate), rel=1e-10)
    # scikit-learn divides by 0 for constant targets
    assume(len(np.unique(frequency)) > 1 and len(np.unique(y)) > 1)
    assert d2_poisson_score(frequency, rate, sample_weight=exposure) == pytest.approx(
        sk.d2_tweedie_score(frequency, rate, sample_weight=exposure, power=1), rel=1e-9, abs=1e-12
    )
    assert d2_poisson_score(y, rate) == pytest.approx(
        sk.d2_tweedie_score(y, rate, power=1), rel=1e-9, abs=1e-12
    )


def test_weighted_deviance_of_frequencies_is_count_deviance_over_total_exposure() -> None:
    """Why exposure is the weight: ``e * d(y/e, r) = d(y, e r)`` (the deviance is
    1-homogeneous), so the weighted mean is the counts' total deviance per unit exposure."""
    rng = np.random.default_rng(0)
    exposure = rng.uniform(0.1, 1.0, 50)
    y = rng.poisson(exposure * 0.5).astype(float)
    rate = rng.uniform(0.2, 1.0, 50)
    total = poisson_deviance(y, exposure * rate) * len(y)
    assert poisson_deviance(y / exposure, rate, sample_weight=exposure) == pytest.approx(
        total / exposure.sum()
    )


@settings(max_examples=80, deadline=None)
@given(y=counts, score=rates, exposure=exposures)
def test_ranking_by_observed_frequency_gives_the_largest_gini(
    y: np.ndarray, score: np.ndarray, exposure: np.ndarray
) -> None:
    assume(y.sum() > 0)
    frequency = y / exposure
    oracle = gini_coefficient(frequency, frequency, sample_weight=exposure)
    assert gini_coefficient(frequency, score, sample_weight=exposure) <= oracle + 1e-12
    assert -1.0 <= gini_coefficient(frequency, score, sample_weight=exposure) <= 1.0


@settings(max_examples=80, deadline=None)
@given(y=counts, score=grid_scores, exposure=exposures)
def test_gini_is_invariant_to_increasing_transforms_of_the_predictions(
    y: np.ndarray, score: np.ndarray, exposure: np.ndarray
) -> None:
    assume(y.sum() > 0)
    frequency = y / exposure
    gini = gini_coefficient(frequency, score, sample_weight=exposure)
    for transformed in (np.log(score), 3.0 * score + 1.0, score**3, np.exp(score)):
        again = gini_coefficient(frequency, transformed, sample_weight=exposure)
        assert again == pytest.approx(gini, abs=1e-12)


def test_a_random_ranking_has_a_gini_near_zero_and_a_good_one_does_not() -> None:
    rng = np.random.default_rng(1)
    rows = 20_000
    exposure = rng.uniform(0.1, 1.0, rows)
    true_rate = np.exp(rng.normal(-1.0, 0.8, rows))
    y = rng.poisson(exposure * true_rate).astype(float)
    frequency = y / exposure
    assert abs(gini_coefficient(frequency, rng.uniform(size=rows), sample_weight=exposure)) < 0.03
    assert gini_coefficient(frequency, true_rate, sample_weight=exposure) > 0.3


def test_one_prediction_for_everyone_gives_the_diagonal_and_a_gini_of_exactly_zero() -> None:
    """Every policy tied: one pooled point, whatever the counts and their order (a stable
    sort over the rows made it 0.5 with the claims last and -0.5 with them first)."""
    for counts in ([0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0], [3.0, 0.0, 0.0, 1.0]):
        curve = lorenz_curve(counts, np.full(4, 0.1), sample_weight=[1.0, 0.5, 0.5, 2.0])
        np.testing.assert_array_equal(curve.exposure, [0.0, 1.0])
        np.testing.assert_array_equal(curve.claims, [0.0, 1.0])
        assert curve.gini == 0.0


def test_a_two_level_tariff_has_one_gini_however_the_file_is_sorted() -> None:
    """Two predicted levels (a tariff from one rating factor): the pooled curve is the
    origin, the low class's shares and (1, 1), so sorting the file by claims either way
    changes nothing (it moved the Gini from 0.30 to 0.72 or -0.17)."""
    rng = np.random.default_rng(0)
    rows = 2000
    risky = rng.integers(0, 2, rows).astype(bool)
    exposure = rng.uniform(0.1, 1.0, rows)
    rate = np.where(risky, 0.3, 0.1)
    counts = rng.poisson(exposure * rate).astype(float)
    low_exposure = exposure[~risky].sum() / exposure.sum()
    low_claims = counts[~risky].sum() / counts.sum()
    by_hand = 1.0 - (low_exposure * low_claims + (1.0 - low_exposure) * (low_claims + 1.0))
    for order in (np.arange(rows), np.argsort(counts), np.argsort(-counts)):
        frequency = counts[order] / exposure[order]
        gini = gini_coefficient(frequency, rate[order], sample_weight=exposure[order])
        assert gini == pytest.approx(by_hand, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    y=counts,
    score=arrays(np.int64, ROWS, elements=st.integers(1, 4)).map(lambda a: a / 10),
    exposure=exposures,
    seed=st.integers(0, 2**32 - 1),
)
def test_the_curve_is_invariant_to_permuting_the_rows(
    y: np.ndarray, score: np.ndarray, exposure: np.ndarray, seed: int
) -> None:
    """Few distinct predictions, so most rows tie: the curve is a function of the policies,
    not of the order they are listed in."""
    assume(y.sum() > 0)
    order = np.random.default_rng(seed).permutation(ROWS)
    frequency = y / exposure
    curve = lorenz_curve(frequency, score, sample_weight=exposure)
    shuffled = lorenz_curve(frequency[order], score[order], sample_weight=exposure[order])
    np.testing.assert_allclose(shuffled.exposure, curve.exposure, atol=1e-12)
    np.testing.assert_allclose(shuffled.claims, curve.claims, atol=1e-12)
    assert shuffled.gini == pytest.approx(curve.gini, abs=1e-12)


def test_the_gini_takes_frequencies_and_exposure_as_the_deviance_does() -> None:
    """One convention for the three frequency metrics, and the weight keyword only: the
    old positional exposure (counts first) fails loudly instead of meaning another thing.
    The value is scikit-learn's example's (its Lorenz curve, which starts at the first row,
    differs from ours by under one row's share)."""
    rng = np.random.default_rng(1)
    exposure = rng.uniform(0.05, 3.0, 500)
    rate = np.exp(rng.normal(-1.0, 0.5, 500))
    frequency = rng.poisson(exposure * rate) / exposure
    ranking = np.argsort(rate)
    claims = np.cumsum(frequency[ranking] * exposure[ranking])
    exposed = np.cumsum(exposure[ranking])
    example = 1.0 - 2.0 * sk.auc(exposed / exposed[-1], claims / claims[-1])
    ours = gini_coefficient(frequency, rate, sample_weight=exposure)
    assert ours == pytest.approx(example, abs=2 * exposure.max() / exposure.sum())
    with pytest.raises(TypeError):
        gini_coefficient(frequency * exposure, rate, exposure)  # type: ignore[misc]


def test_the_curve_matches_the_scikit_learn_example_by_hand() -> None:
    """Three policies: claims 0, 1, 3 over exposures 1, 0.5, 0.5 (frequencies 0, 2, 6),
    predicted in that order: exposure shares 0.5, 0.75, 1; claim shares 0, 0.25, 1."""
    curve = lorenz_curve([0, 2, 6], [0.1, 0.5, 2.0], sample_weight=[1.0, 0.5, 0.5])
    np.testing.assert_allclose(curve.exposure, [0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.claims, [0, 0, 0.25, 1.0])
    area = sk.auc(curve.exposure, curve.claims)
    assert curve.gini == pytest.approx(1 - 2 * area)
    assert curve.gini == pytest.approx(1 - 2 * (0.25 * 0.125 + 0.25 * 0.625))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 0], [1, 2]), "every frequency is 0"),
        (([1, -1], [1, 2]), "non-negative frequencies"),
        (([1, 2], [1, 2], [1.0, 0.0]), "positive exposures"),
        (([1, 2], [1, 2, 3]), "same non-zero length"),
    ],
)
def test_bad_input_to_the_lorenz_curve_is_refused(args: tuple[object, ...], message: str) -> None:
    truth, predicted, *weights = args
    with pytest.raises(DataError, match=message):
        lorenz_curve(truth, predicted, sample_weight=weights[0] if weights else None)
