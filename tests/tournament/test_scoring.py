"""CORR and MMC against hand computations of numerai-tools' definitions (the library itself
is checked in test_numerai_reference.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.tournament import (
    feature_neutral_corr,
    gaussianize,
    mmc,
    neutralize,
    numerai_corr,
    stake_weighted_meta_model,
)

# standard normal quantiles used below: Phi^-1(0.1), Phi^-1(0.3); Phi^-1(0.5) = 0
Z10 = -1.2815515655446004
Z30 = -0.5244005127080407


def pearson(a: list[float], b: list[float]) -> float:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb)


def p15(x: float) -> float:
    return math.copysign(abs(x) ** 1.5, x)


def test_gaussianize_hand_values() -> None:
    # ranks 1, 3, 2, 5, 4 -> (rank - 0.5) / 5 = 0.1, 0.5, 0.3, 0.9, 0.7
    got = gaussianize([0.1, 0.4, 0.35, 0.8, 0.5])
    np.testing.assert_allclose(got, [Z10, 0.0, Z30, -Z10, -Z30], atol=1e-12)


def test_numerai_corr_matches_hand_computation() -> None:
    predictions = [0.1, 0.4, 0.35, 0.8, 0.5]
    target = [0.0, 0.25, 0.5, 1.0, 0.75]  # mean 0.5
    gauss = [Z10, 0.0, Z30, -Z10, -Z30]
    centred = [-0.5, -0.25, 0.0, 0.5, 0.25]
    expected = pearson([p15(g) for g in gauss], [p15(t) for t in centred])
    assert numerai_corr(predictions, target) == pytest.approx(expected, abs=1e-12)


def test_numerai_corr_keeps_ties_with_average_rank() -> None:
    predictions = [0.2, 0.2, 0.6, 0.9, 0.1]  # ranks 2.5, 2.5, 4, 5, 1
    target = [1.0, 0.0, 0.5, 0.75, 0.25]  # mean 0.5
    # (2.5 - 0.5)/5 = 0.4 -> Phi^-1(0.4) = -0.2533...; (4 - 0.5)/5 = 0.7 -> -Z30
    gauss = [-0.2533471031357997, -0.2533471031357997, -Z30, -Z10, Z10]
    centred = [0.5, -0.5, 0.0, 0.25, -0.25]
    expected = pearson([p15(g) for g in gauss], [p15(t) for t in centred])
    assert numerai_corr(predictions, target) == pytest.approx(expected, abs=1e-12)


def test_numerai_corr_is_rank_invariant_and_undefined_for_constant_predictions() -> None:
    rng = np.random.default_rng(0)
    predictions, target = rng.random(50), rng.random(50)
    assert numerai_corr(predictions, target) == pytest.approx(
        numerai_corr(predictions**3, target), abs=1e-12
    )
    # numerai-tools: Pearson correlation of a constant is 0/0 -> NaN
    assert math.isnan(numerai_corr(np.full(50, 0.5), target))
    assert math.isnan(numerai_corr(predictions, np.full(50, 0.25)))


def test_numerai_corr_without_target_power_uses_the_centred_target() -> None:
    predictions = [0.1, 0.4, 0.35, 0.8, 0.5]
    target = [0.0, 0.25, 0.5, 1.0, 0.75]
    gauss = [Z10, 0.0, Z30, -Z10, -Z30]
    centred = [-0.5, -0.25, 0.0, 0.5, 0.25]
    expected = pearson([p15(g) for g in gauss], centred)
    got = numerai_corr(predictions, target, target_pow15=False)
    assert got == pytest.approx(expected, abs=1e-12)


def mmc_by_hand(target_centred: list[float]) -> float:
    p = [Z10, 0.0, Z30, -Z10, -Z30]  # predictions [0.1, 0.4, 0.35, 0.8, 0.5]
    m = [Z30, Z10, 0.0, -Z10, -Z30]  # meta model ranks 2, 1, 3, 5, 4
    beta = sum(a * b for a, b in zip(p, m, strict=True)) / sum(b * b for b in m)
    neutral = [a - beta * b for a, b in zip(p, m, strict=True)]
    return sum(t * x for t, x in zip(target_centred, neutral, strict=True)) / 5


def test_mmc_scales_a_unit_interval_target_to_buckets_like_numerai_tools() -> None:
    predictions = [0.1, 0.4, 0.35, 0.8, 0.5]
    meta_model = [0.2, 0.1, 0.3, 0.5, 0.4]
    target = [0.0, 0.25, 0.5, 1.0, 0.75]  # in [0, 1]: x4 -> buckets [-2, 2] after centring
    expected = mmc_by_hand([-2.0, -1.0, 0.0, 2.0, 1.0])
    assert mmc(predictions, meta_model, target) == pytest.approx(expected, abs=1e-12)
    # a target outside [0, 1] (e.g. returns) is only centred
    returns = [-0.5, -0.25, 0.0, 0.5, 0.25]
    assert mmc(predictions, meta_model, returns) == pytest.approx(mmc_by_hand(returns), abs=1e-12)


def test_mmc_of_the_meta_model_itself_is_zero() -> None:
    rng = np.random.default_rng(1)
    predictions, target = rng.random(40), rng.random(40)
    assert mmc(predictions, predictions, target) == pytest.approx(0.0, abs=1e-12)


def test_mmc_against_a_constant_meta_model_is_undefined() -> None:
    # p and 1 - p with equal stakes average to a flat 0.5: nothing to be orthogonal to
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.5])
    meta = stake_weighted_meta_model([p, 1 - p], [5, 5])
    np.testing.assert_allclose(meta, 0.5, atol=1e-15)
    assert math.isnan(mmc(p, np.full(5, 0.5), [0.0, 0.25, 0.5, 1.0, 0.75]))


def test_meta_model_averages_raw_predictions_of_staked_submissions() -> None:
    a = [0.1, 0.2, 0.3, 0.4]
    b = [0.4, 0.3, 0.2, 0.1]
    c = [0.9, 0.9, 0.0, 0.5]  # zero stake: ignored
    meta = stake_weighted_meta_model([a, b, c], [3, 1, 0])
    np.testing.assert_allclose(meta, [0.175, 0.225, 0.275, 0.325], rtol=0, atol=1e-15)
    with pytest.raises(DataError, match="no submission is staked"):
        stake_weighted_meta_model([a, b], [0, 0])


def test_scoring_rejects_mismatched_or_non_finite_input() -> None:
    with pytest.raises(DataError):
        numerai_corr([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(DataError):
        numerai_corr([0.1, float("nan")], [0.1, 0.2])


def test_neutralize_removes_the_projection_on_features_and_a_constant() -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(30, 3))
    values = features @ [1.0, -2.0, 0.5] + 3.0 + rng.normal(size=30)
    neutral = neutralize(values, features)
    design = np.column_stack([features, np.ones(30)])
    np.testing.assert_allclose(design.T @ neutral, 0.0, atol=1e-9)
    half = neutralize(values, features, proportion=0.5)
    np.testing.assert_allclose(half, (values + neutral) / 2, atol=1e-12)
    np.testing.assert_allclose(neutralize(values, features, proportion=0.0), values)


def test_neutralize_marks_a_constant_column_undefined_and_refuses_bad_input() -> None:
    features = np.arange(10.0).reshape(5, 2)
    out = neutralize(np.column_stack([np.arange(5.0) ** 2, np.full(5, 0.3)]), features)
    assert np.all(np.isfinite(out[:, 0])) and np.all(np.isnan(out[:, 1]))
    with pytest.raises(DataError):
        neutralize(np.arange(5.0), features[:4])
    with pytest.raises(DataError):
        neutralize(np.arange(5.0), features, proportion=1.5)


def test_feature_neutral_corr_removes_what_a_feature_explains() -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(500, 4))
    target = np.digitize(features[:, 0], [-0.8, -0.25, 0.25, 0.8]) / 4  # a feature's buckets
    predictions = features[:, 0]  # all of its CORR comes from that feature
    assert numerai_corr(predictions, target) > 0.8
    assert abs(feature_neutral_corr(predictions, features, target)) < 0.2
    assert math.isnan(feature_neutral_corr(np.full(500, 0.5), features, target))
