"""CORR and MMC against hand computations of Numerai's published definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.tournament import gaussianize, mmc, numerai_corr, stake_weighted_meta_model

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


def test_numerai_corr_is_rank_invariant_and_constant_predictions_score_zero() -> None:
    rng = np.random.default_rng(0)
    predictions, target = rng.random(50), rng.random(50)
    assert numerai_corr(predictions, target) == pytest.approx(
        numerai_corr(predictions**3, target), abs=1e-12
    )
    assert numerai_corr(np.full(50, 0.5), target) == 0.0


def test_mmc_matches_hand_computation() -> None:
    predictions = [0.1, 0.4, 0.35, 0.8, 0.5]
    meta_model = [0.2, 0.1, 0.3, 0.5, 0.4]  # ranks 2, 1, 3, 5, 4
    target = [0.0, 0.25, 0.5, 1.0, 0.75]
    p = [Z10, 0.0, Z30, -Z10, -Z30]
    m = [Z30, Z10, 0.0, -Z10, -Z30]
    beta = sum(a * b for a, b in zip(p, m, strict=True)) / sum(b * b for b in m)
    neutral = [a - beta * b for a, b in zip(p, m, strict=True)]
    centred = [-0.5, -0.25, 0.0, 0.5, 0.25]
    expected = sum(t * x for t, x in zip(centred, neutral, strict=True)) / 5
    assert mmc(predictions, meta_model, target) == pytest.approx(expected, abs=1e-12)


def test_mmc_of_the_meta_model_itself_is_zero() -> None:
    rng = np.random.default_rng(1)
    predictions, target = rng.random(40), rng.random(40)
    assert mmc(predictions, predictions, target) == pytest.approx(0.0, abs=1e-12)


def test_meta_model_weights_ranks_by_stake() -> None:
    a = [0.1, 0.2, 0.3, 0.4]  # ranks (pct) 0.125, 0.375, 0.625, 0.875
    b = [0.4, 0.3, 0.2, 0.1]
    meta = stake_weighted_meta_model([a, b], [3, 1])
    np.testing.assert_allclose(meta, [0.3125, 0.4375, 0.5625, 0.6875])
    np.testing.assert_allclose(stake_weighted_meta_model([a, b], [0, 0]), [0.5] * 4)


def test_scoring_rejects_mismatched_or_non_finite_input() -> None:
    with pytest.raises(DataError):
        numerai_corr([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(DataError):
        numerai_corr([0.1, float("nan")], [0.1, 0.2])
